oracle: alloc arena: expected BadNocross, got Ok
