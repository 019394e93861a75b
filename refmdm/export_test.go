package refmdm

// APIIdleConns is the keep-alive pool of the stack's own HTTP clients, for
// the tests of package refmdm_test that bound the goroutines of a fleet.
const APIIdleConns = apiIdleConns
