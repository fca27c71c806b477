package executor

import "strings"

// envIndex maps ENV names to their position in the config's Env list. It
// is extended as ENV lines append to the list, so a Dockerfile with
// thousands of ENV lines costs time linear, not quadratic, in their number.
type envIndex struct {
	pos map[string]int
	n   int // entries of Env indexed so far
}

// envPos returns the position of key's last entry in the stage's Env.
func (s *stageState) envPos(key string) (int, bool) {
	env := s.cfg.Config.Env
	if s.envIdx.pos == nil || s.envIdx.n > len(env) {
		s.envIdx = envIndex{pos: make(map[string]int)}
	}
	for ; s.envIdx.n < len(env); s.envIdx.n++ {
		k, _, _ := strings.Cut(env[s.envIdx.n], "=")
		s.envIdx.pos[k] = s.envIdx.n
	}
	i, ok := s.envIdx.pos[key]
	if ok && !strings.HasPrefix(env[i], key+"=") {
		// Env was rewritten behind the index's back: start over.
		s.envIdx = envIndex{}
		return s.envPos(key)
	}
	return i, ok
}

// stageEnv is the stage's variables for word expansion, the image's ENV
// over the stage's ARGs, read in place instead of copied for every step.
type stageEnv struct{ s *stageState }

// Get returns the value of key.
func (e stageEnv) Get(key string) (string, bool) {
	if i, ok := e.s.envPos(key); ok {
		_, v, _ := strings.Cut(e.s.cfg.Config.Env[i], "=")
		return v, true
	}
	for _, a := range e.s.args {
		if a.set && a.name == key {
			return a.value, true
		}
	}
	return "", false
}

// Keys returns the names of all variables.
func (e stageEnv) Keys() []string {
	var keys []string
	for _, kv := range e.s.env() {
		k, _, _ := strings.Cut(kv, "=")
		keys = append(keys, k)
	}
	return keys
}
