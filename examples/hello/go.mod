module github.com/pipeguard/pipeguard/examples/hello

go 1.26
