package main

import "testing"

func TestGreeting(t *testing.T) {
	if got := greeting("pipeguard"); got != "hello, pipeguard" {
		t.Fatalf("greeting = %q", got)
	}
}
