module example.com/strata-examples/advanced

go 1.26
