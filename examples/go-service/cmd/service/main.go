// Command service answers HTTP requests with a greeting; with -once it
// prints the greeting and exits, which the image's tests use.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"

	"example.com/service/internal/greeting"
)

func main() {
	addr := flag.String("addr", ":8080", "listen address")
	once := flag.Bool("once", false, "print the greeting and exit")
	flag.Parse()
	if *once {
		fmt.Println(greeting.For("world"))
		return
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, greeting.For(r.URL.Query().Get("name")))
	})
	log.Fatal(http.ListenAndServe(*addr, nil))
}
