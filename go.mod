module github.com/usher-lb/usher

go 1.26.8
