package secrets

import "testing"

// BenchmarkNewDetectorDefault measures start-up: compiling the default
// rules and building the detector, which every scan (and every pre-commit
// hook run) pays once.
func BenchmarkNewDetectorDefault(b *testing.B) {
	c, err := DefaultConfig()
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		NewDetector(c)
	}
}
