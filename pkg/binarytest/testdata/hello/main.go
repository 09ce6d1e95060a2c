// Command hello is what binarytest's tests build: small, so they are fast.
package main

import "fmt"

func main() { fmt.Println("hello from a built command") }
