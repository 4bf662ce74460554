oracle: alloc arena: expected imports within the contract, got a bad import
