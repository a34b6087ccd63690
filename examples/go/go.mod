module example.com/strata-examples/go

go 1.26
