// Package expr is linkd's expression layer: CEL (github.com/google/cel-go)
// over events and shipment state, for subscription filters and rule
// conditions, and the subscription Filter that combines DCSA field lists with
// an optional expression.
//
// An expression sees two variables:
//
//   - event: the event, with DCSA's JSON field names
//     (event.shipmentEventTypeCode, event.eventLocation.UNLocationCode,
//     event.transportCall.location.UNLocationCode, event.parties[0].party,
//     event.inventory.sku, event.causedBy, event.hlc …);
//   - shipment: the derived state of the shipment the event names, with the
//     JSON names of linkd.ShipmentState (shipment.status,
//     shipment.openHolds, shipment.eta.time …); every field is absent when
//     the event names no shipment.
//
// Both are typed objects, not maps: a misspelt field is a compile error with
// its position, and selecting a field the event does not carry gives its zero
// value ("" for strings, 0 for ints, [] for lists, an empty object for
// objects, timestamp(0) for times), so a filter never fails at run time
// because a field is absent. has(event.eventLocation) tests presence, which
// follows the JSON encoding (present exactly when encoding/json writes it).
//
// Times (event.eventDateTime, event.eventCreatedDateTime, shipment.statusSince,
// shipment.eta.time, openHolds[i].since) are google.protobuf.Timestamp values:
// compare them with timestamp("2026-11-03T00:00:00Z"), subtract them to get a
// duration, or read parts with getHours("Europe/Berlin"). event.hlc is an int.
//
// Expressions are deterministic: the same expression over the same event and
// state gives the same answer on every node and on every replay. There is no
// now(), no randomness and no I/O; building a list by iterating a map (whose
// order CEL leaves open) is refused at compile time. The standard library and
// the strings extension (version 4: lowerAscii, split, join, indexOf …) are
// available. Time zone names resolve through the node's tz database, so use
// UTC offsets when nodes may run with different tz data.
//
// Every expression is bounded: MaxSourceBytes of source, MaxNodes in its
// syntax tree, MaxNesting of parser recursion and MaxComprehensionNesting of
// nested macros, and MaxCost units of work per evaluation, beyond which
// evaluation stops with ErrCostLimit.
//
// A Program is safe for concurrent use; an Input is read-only once built and
// may be shared by any number of programs and goroutines.
package expr

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"

	"github.com/linkd-dev/linkd"
)

// Limits on one expression.
const (
	// MaxSourceBytes bounds the source text.
	MaxSourceBytes = 4096
	// MaxNodes bounds the syntax tree after macro expansion.
	MaxNodes = 1000
	// MaxNesting bounds the parser's recursion: nested parentheses, calls,
	// selections and operators.
	MaxNesting = 32
	// MaxComprehensionNesting bounds nested all/exists/map/filter macros.
	MaxComprehensionNesting = 3
	// MaxCost bounds the work of one evaluation, in CEL cost units (about
	// one per operation, field selection or comprehension step; strings and
	// lists cost by size). A typical filter costs under 20.
	MaxCost = 100_000
	// interruptEvery is how many comprehension steps run between checks
	// for a cancelled context (MatchContext).
	interruptEvery = 100
)

// ErrCostLimit is returned by Match when an evaluation exceeds MaxCost.
var ErrCostLimit = &linkd.Error{Code: linkd.EInvalid, Message: fmt.Sprintf("expression: cost limit exceeded: the expression does more than %d units of work on this event", MaxCost)}

// source names the expression in CEL's error positions: expression:1:7.
const source = "expression"

// env is the one CEL environment. cel.Env is immutable once built and safe
// for concurrent use.
var env = func() *cel.Env {
	reg, err := types.NewRegistry()
	if err != nil {
		panic(fmt.Sprintf("expr: cel registry: %v", err))
	}
	e, err := cel.NewEnv(
		cel.CustomTypeAdapter(reg),
		cel.CustomTypeProvider(provider{reg}),
		cel.Variable("event", eventType.typ),
		cel.Variable("shipment", stateType.typ),
		ext.Strings(ext.StringsVersion(4)),
		cel.ParserRecursionLimit(MaxNesting),
		cel.ParserExpressionSizeLimit(MaxSourceBytes),
		cel.ExtendedValidations(),
		cel.ASTValidators(cel.ValidateComprehensionNestingLimit(MaxComprehensionNesting), checks{}),
	)
	if err != nil {
		panic(fmt.Sprintf("expr: cel environment: %v", err))
	}
	return e
}()

// Program is a compiled expression.
type Program struct {
	src     string
	prg     cel.Program // tracks its cost, stops at MaxCost
	bounded cel.Program // tracks nothing; nil unless proven within MaxCost on a bounded Input
}

// Compile parses and type-checks src, which must give a bool. Every error is
// a *linkd.Error with code EInvalid whose message gives CEL's reason and its
// position (expression:LINE:COLUMN).
func Compile(src string) (*Program, error) {
	if strings.TrimSpace(src) == "" {
		return nil, linkd.Errorf(linkd.EInvalid, "expression: empty; want a CEL expression that gives a bool")
	}
	if len(src) > MaxSourceBytes {
		return nil, linkd.Errorf(linkd.EInvalid, "expression: %d bytes; at most %d", len(src), MaxSourceBytes)
	}
	// Parse, then bound the tree before the (costlier) type check.
	parsed, iss := env.ParseSource(common.NewStringSource(src, source))
	if iss.Err() != nil {
		return nil, &linkd.Error{Code: linkd.EInvalid, Message: issues(iss)}
	}
	n := 0
	celast.PreOrderVisit(parsed.NativeRep().Expr(), celast.NewExprVisitor(func(celast.Expr) { n++ }))
	if n > MaxNodes {
		return nil, linkd.Errorf(linkd.EInvalid, "expression: %d syntax nodes after macro expansion; at most %d", n, MaxNodes)
	}
	ast, iss := env.Check(parsed)
	if iss.Err() != nil {
		return nil, &linkd.Error{Code: linkd.EInvalid, Message: issues(iss)}
	}
	if t := ast.OutputType(); !t.IsExactType(types.BoolType) {
		return nil, linkd.Errorf(linkd.EInvalid, "%s:1:1: gives %s; a filter or condition must give a bool", source, t)
	}
	p := &Program{src: src}
	var err error
	p.prg, err = env.Program(ast,
		cel.CostLimit(MaxCost),
		cel.InterruptCheckFrequency(interruptEvery),
		cel.EvalOptions(cel.OptOptimize),
	)
	if err != nil {
		return nil, linkd.Errorf(linkd.EInvalid, "expression: %v", err)
	}
	// Tracking cost doubles the time of a small expression. When the
	// static estimate proves the limit cannot be reached on an event within
	// linkd's validation limits, keep a second program that does not track.
	if est, err := env.EstimateCost(ast, sizes{}); err == nil && est.Max <= MaxCost {
		p.bounded, err = env.Program(ast,
			cel.InterruptCheckFrequency(interruptEvery),
			cel.EvalOptions(cel.OptOptimize),
		)
		if err != nil {
			return nil, linkd.Errorf(linkd.EInvalid, "expression: %v", err)
		}
	}
	return p, nil
}

// sizes bounds what the static cost estimate cannot see: an event's strings
// and lists, within linkd's validation limits (Input.bounded checks that an
// event keeps to them). The shipment's lists grow with its history, so
// expressions that reach into the shipment are left unbounded and tracked.
type sizes struct{}

func (sizes) EstimateSize(n checker.AstNode) *checker.SizeEstimate {
	path := n.Path()
	if len(path) == 0 || path[0] != "event" {
		return nil
	}
	switch n.Type().Kind() {
	case types.StringKind:
		return &checker.SizeEstimate{Min: 0, Max: maxString}
	case types.ListKind:
		return &checker.SizeEstimate{Min: 0, Max: linkd.MaxListLen}
	}
	return nil
}

func (sizes) EstimateCallCost(function, overloadID string, target *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
	return nil
}

// issues formats CEL's errors on one line each: expression:1:7: reason.
func issues(iss *cel.Issues) string {
	var b strings.Builder
	for i, e := range iss.Errors() {
		if i > 0 {
			b.WriteString("; ")
		}
		if e.Location.Line() < 1 {
			fmt.Fprintf(&b, "%s: %s", source, e.Message) // the parser gives no position for some limits
			continue
		}
		fmt.Fprintf(&b, "%s:%d:%d: %s", source, e.Location.Line(), e.Location.Column()+1, e.Message)
	}
	return b.String()
}

// Source is the expression's text as compiled.
func (p *Program) Source() string { return p.src }

// Match evaluates the expression over in. An error means the expression
// could not be evaluated for this event (ErrCostLimit, division by zero, an
// index out of range); it is a *linkd.Error with code EInvalid and callers
// treat the event as not matching.
func (p *Program) Match(in *Input) (bool, error) {
	prg := p.prg
	if p.bounded != nil && in.bounded {
		prg = p.bounded
	}
	out, _, err := prg.Eval(&in.act)
	return result(out, err)
}

// MatchContext is Match that also stops, with ctx's error, when ctx is done;
// comprehensions check it every 100 steps.
func (p *Program) MatchContext(ctx context.Context, in *Input) (bool, error) {
	out, _, err := p.prg.ContextEval(ctx, &in.act)
	if err != nil && ctx.Err() != nil {
		return false, fmt.Errorf("expression: %w", ctx.Err())
	}
	return result(out, err)
}

func result(out ref.Val, err error) (bool, error) {
	if err != nil {
		var cancelled interpreter.EvalCancelledError
		if errors.As(err, &cancelled) && cancelled.Cause == interpreter.CostLimitExceeded {
			return false, ErrCostLimit
		}
		return false, linkd.Errorf(linkd.EInvalid, "expression: %v", err)
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, linkd.Errorf(linkd.EInvalid, "expression: gave %s, not a bool", out.Type().TypeName())
	}
	return b, nil
}

// checks refuses, at compile time, what would fail or be nondeterministic at
// run time:
//   - comprehensions that build a value by iterating a map: CEL leaves map
//     order open and cel-go follows Go's random map order, so a map(…) over
//     a map could differ between nodes. Boolean results (all, exists,
//     exists_one) do not depend on order and stay allowed;
//   - constructing linkd objects (linkd.Event{…}): they are read-only views.
type checks struct{}

func (checks) Name() string { return "linkd.checks" }

func (checks) Validate(_ *cel.Env, _ cel.ValidatorConfig, a *celast.AST, iss *cel.Issues) {
	celast.PreOrderVisit(a.Expr(), celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.ComprehensionKind:
			switch a.GetType(e.AsComprehension().IterRange().ID()).Kind() {
			case types.MapKind, types.DynKind:
				if a.GetType(e.ID()).Kind() != types.BoolKind {
					iss.ReportErrorAtID(e.ID(), "building a list by iterating a map (or a dyn value) gives no fixed order; iterate a list instead")
				}
			}
		case celast.StructKind:
			if name := e.AsStruct().TypeName(); structTypes[strings.TrimPrefix(name, ".")] != nil {
				iss.ReportErrorAtID(e.ID(), "%s values cannot be constructed in an expression", name)
			}
		}
	}))
}
