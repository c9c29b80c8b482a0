"""Planning new stations: exact ring algorithms, intervals, sites, demand, off-loop siting."""
