// http_hello: net/http answering every request with "Hello, World!\n" as text/plain.
// Driven by wrk; C++ twin: examples/http_server.cpp, whose headers (Content-Type with
// its charset, Content-Length, Date) this response has too, so both send the same bytes.

package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
)

func helloHandler(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("Hello, World!\n"))
}

func httpHelloServer(ln net.Listener) {
	err := http.Serve(ln, http.HandlerFunc(helloHandler))
	fmt.Fprintln(os.Stderr, "http_hello: serve:", err)
	os.Exit(1)
}
