//go:build race

package demo

// raceEnabled slows the lane's clock in tests that need the nodes to keep
// pace with it: the race detector makes every node several times slower.
const raceEnabled = true
