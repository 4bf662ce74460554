crash: signal 11 (SIGSEGV)
