// Command hello is the program the hello example image runs.
package main

import (
	"fmt"
	"os"
)

func main() {
	greeting := os.Getenv("GREETING")
	if greeting == "" {
		greeting = "hello"
	}
	fmt.Printf("%s from an image built without a daemon\n", greeting)
}
