package clock_test

import (
	"context"
	"fmt"
	"time"

	"github.com/mdmsim/mdmsim/clock"
)

// A device defers an update, is reminded daily and has a hard deadline. The
// test steps four days and sees every event, in order, at its own time.
func ExampleManual() {
	clk := clock.NewManual(time.Date(2026, time.March, 2, 9, 0, 0, 0, time.UTC))
	var remind func()
	remind = func() {
		fmt.Println("remind at  ", clk.Now().Format(time.DateTime))
		clk.AfterFunc(24*time.Hour, remind) // re-armed from inside the step
	}
	clk.AfterFunc(24*time.Hour, remind)
	clk.AfterFunc(3*24*time.Hour+time.Hour, func() {
		fmt.Println("deadline at", clk.Now().Format(time.DateTime))
	})

	clk.Advance(4 * 24 * time.Hour)
	next, _ := clk.Next()
	fmt.Println("pending", clk.Pending(), "next", next.Format(time.DateTime))
	// Output:
	// remind at   2026-03-03 09:00:00
	// remind at   2026-03-04 09:00:00
	// remind at   2026-03-05 09:00:00
	// deadline at 2026-03-05 10:00:00
	// remind at   2026-03-06 09:00:00
	// pending 1 next 2026-03-07 09:00:00
}

// BlockUntil lets a test wait for the code under test to arm its timer
// before stepping, instead of sleeping and hoping.
func ExampleManual_BlockUntil() {
	ctx := context.Background()
	clk := clock.NewManual(time.Date(2026, time.March, 2, 9, 0, 0, 0, time.UTC))
	done := make(chan error)
	go func() { done <- clk.Sleep(ctx, time.Hour) }() // e.g. a check-in back-off

	if err := clk.BlockUntil(ctx, 1); err != nil {
		panic(err)
	}
	clk.Advance(time.Hour)
	fmt.Println("sleep returned", <-done, "at", clk.Now().Format(time.Kitchen))
	// Output: sleep returned <nil> at 10:00AM
}

// At a factor of a million a virtual day passes in about 86ms of wall time.
func ExampleNewScaled() {
	start := time.Date(2026, time.March, 2, 9, 0, 0, 0, time.UTC)
	clk := clock.NewScaled(start, 1_000_000)

	fired := make(chan time.Time)
	clk.AfterFunc(24*time.Hour, func() { fired <- clk.Now() })
	at := <-fired

	fmt.Println("factor", clk.Factor())
	fmt.Println("fired no earlier than its deadline:", !at.Before(start.Add(24*time.Hour)))
	// Output:
	// factor 1e+06
	// fired no earlier than its deadline: true
}

// Each simulated device decides "tonight" in its own time zone.
func ExampleLocal() {
	clk := clock.NewManual(time.Date(2026, time.March, 2, 22, 30, 0, 0, time.UTC))
	tokyo := time.FixedZone("JST", 9*60*60)
	fmt.Println(clock.Local(clk, tokyo).Format("Mon 15:04 MST"))
	// Output: Tue 07:30 JST
}
