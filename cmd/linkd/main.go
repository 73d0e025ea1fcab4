// Command linkd runs a party's node of a linked supply-chain log and the
// tools around it: verify, bench, demo. It parses flags, wires the internal
// packages together and owns the process's exit code; everything else lives
// under internal/.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	// The binary carries the time zone database, so a rule's CEL time
	// functions and event times in named zones mean the same on every host,
	// also one without /usr/share/zoneinfo (a scratch container).
	_ "time/tzdata"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	exitOK       = 0
	exitFailed   = 1 // the command ran and the answer is no (verification failed)
	exitUsage    = 2 // bad flags, unreadable input
	exitInternal = 3
)

// exitError carries the exit code of a failed command. With exitFailed the
// answer was already printed, so Main prints nothing more.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Main runs linkd with args and returns the exit code. Tests call it
// in-process.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var xe *exitError
	if errors.As(err, &xe) {
		if xe.err != nil && xe.code != exitFailed {
			fmt.Fprintf(stderr, "linkd: %v\n", xe.err)
		}
		return xe.code
	}
	fmt.Fprintf(stderr, "linkd: %v\n", err)
	if errors.Is(err, context.Canceled) {
		return exitFailed
	}
	return exitUsage
}

func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "linkd",
		Short: "A linked, verifiable log of supply-chain events, one node per party",
		Long: `linkd gives every party of a trade lane its own node: a signed, append-only
Merkle log of the shipment events it records, linked to its partners' logs.

Start with 'linkd demo', which records a Vietnam→EU lane's events, proves one
of them and verifies the proof offline.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newInitCmd(), newNodeCmd(), newEventCmd(), newShipmentCmd(), newLogCmd(), newTokenCmd(), newPeerCmd(),
		newVerifyCmd(), newBenchCmd(), newDemoCmd(), newSubCmd(), newWatchCmd(), newRulesCmd(), newEDICmd(), newDocCmd(), newClusterCmd())
	return root
}
