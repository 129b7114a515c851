// tcp_echo: a TCP echo server, a goroutine per connection. Driven by perf/tcp_load.cpp;
// C++ twin: perf/tcp_echo_server.cpp.
//
// What a Go programmer writes: net.Listen, Accept in a loop, and per connection a
// goroutine that reads into a buffer and writes back what it read. Go sets TCP_NODELAY
// on every TCP connection by default, as goro does on accepted connections.

package main

import (
	"fmt"
	"net"
	"os"
)

func tcpEchoServer(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "tcp_echo: accept:", err)
			os.Exit(1)
		}
		go echoConn(c)
	}
}

// echoConn echoes c until the client closes or resets it.
func echoConn(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
