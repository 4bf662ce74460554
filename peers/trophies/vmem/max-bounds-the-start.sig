oracle: alloc arena: expected a placement, got above maxaddr
