oracle: alloc arena: expected BadBounds, got Ok
