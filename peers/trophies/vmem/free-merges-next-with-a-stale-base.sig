crash: signal 6 (SIGABRT): thread caused non-unwinding panic. aborting.
