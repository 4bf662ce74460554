oracle: free arena: expected Err(BadFree), got Ok
