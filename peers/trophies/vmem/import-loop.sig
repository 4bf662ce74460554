crash: signal 6 (SIGABRT): fatal runtime error: stack overflow, aborting
