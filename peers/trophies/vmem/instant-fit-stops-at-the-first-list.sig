oracle: alloc arena: expected a placement, got Err(NoSpace)
