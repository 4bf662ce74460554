state: arena counts
