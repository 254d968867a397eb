// Command hello is the smallest project pipeguard builds: `pipeguard run
// examples/hello` builds it in the sandbox, signs its provenance and checks
// it against the committed policy.
package main

import (
	"fmt"
	"os"
)

func main() {
	name := "world"
	if len(os.Args) > 1 {
		name = os.Args[1]
	}
	fmt.Println(greeting(name))
}

func greeting(name string) string { return "hello, " + name }
