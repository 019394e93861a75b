package clock_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/mdmsim/mdmsim/clock"
)

// A device enrolls while the clock is paused, then checks in every eight
// hours; each check-in is a session that runs on its own goroutine and is
// counted as work. The server polls daily in phase 1, so at 09:00, when a
// check-in and a poll fall due together, it sees the check-in finished.
// Two virtual days take no more wall time than the work itself.
func ExampleDiscrete() {
	clk := clock.NewDiscrete(time.Date(2026, time.March, 2, 9, 0, 0, 0, time.UTC))
	defer clk.Close()
	session := clock.NewWork(clk, "device session")
	server := clock.InPhase(clk, 1)
	var checkIns atomic.Int64

	var checkIn func()
	checkIn = func() {
		fmt.Println("check-in at", clk.Now().Format(time.DateTime))
		session.Go(func() { // the session's round trip to the server
			if checkIns.Add(1) < 6 {
				clk.AfterFunc(8*time.Hour, checkIn)
			}
		})
	}
	var poll func()
	poll = func() {
		fmt.Println("server poll at", clk.Now().Format(time.DateTime), "sees", checkIns.Load(), "check-ins")
		if checkIns.Load() < 6 {
			server.AfterFunc(24*time.Hour, poll)
		}
	}
	clk.AfterFunc(0, func() { // due now: runs while the clock is paused
		fmt.Println("enrolled at", clk.Now().Format(time.DateTime))
		clk.AfterFunc(8*time.Hour, checkIn)
		server.AfterFunc(24*time.Hour, poll)
	})

	ctx := context.Background()
	if err := clk.WaitIdle(ctx); err != nil {
		panic(err)
	}
	fmt.Println("paused at", clk.Now().Format(time.DateTime), "with", clk.Pending(), "timers pending")
	clk.Start()
	if err := clk.WaitIdle(ctx); err != nil {
		panic(err)
	}
	fmt.Println("idle at", clk.Now().Format(time.DateTime))
	// Output:
	// enrolled at 2026-03-02 09:00:00
	// paused at 2026-03-02 09:00:00 with 2 timers pending
	// check-in at 2026-03-02 17:00:00
	// check-in at 2026-03-03 01:00:00
	// check-in at 2026-03-03 09:00:00
	// server poll at 2026-03-03 09:00:00 sees 3 check-ins
	// check-in at 2026-03-03 17:00:00
	// check-in at 2026-03-04 01:00:00
	// check-in at 2026-03-04 09:00:00
	// server poll at 2026-03-04 09:00:00 sees 6 check-ins
	// idle at 2026-03-04 09:00:00
}
