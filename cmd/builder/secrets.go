package main

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"strings"
)

// maxSecretSize is the largest secret accepted, as in BuildKit.
const maxSecretSize = 500 << 10

// secretSource is one --secret flag: where the secret's bytes come from.
type secretSource struct {
	id, file, env string
}

// parseSecretFlag parses a --secret value as docker buildx does:
// id=ID[,src=FILE|,env=VAR][,type=file|env], with source as a synonym of
// src; for type=env, src names the variable. With neither src nor env,
// the secret is the variable named ID if set, else the file ID.
func parseSecretFlag(v string, lookupEnv func(string) (string, bool)) (secretSource, error) {
	r := csv.NewReader(strings.NewReader(v))
	fields, err := r.Read()
	if err != nil {
		return secretSource{}, fmt.Errorf("--secret %q: %w", v, err)
	}
	var s secretSource
	typ := ""
	for _, f := range fields {
		k, val, ok := strings.Cut(f, "=")
		if !ok {
			return secretSource{}, fmt.Errorf("--secret %q: field %q must be a key=value pair", v, f)
		}
		switch strings.ToLower(k) {
		case "type":
			if val != "file" && val != "env" {
				return secretSource{}, fmt.Errorf("--secret %q: unsupported secret type %q (want file or env)", v, val)
			}
			typ = val
		case "id":
			s.id = val
		case "src", "source":
			s.file = val
		case "env":
			s.env = val
		default:
			return secretSource{}, fmt.Errorf("--secret %q: unexpected key %q", v, k)
		}
	}
	if typ == "env" && s.env == "" {
		s.env, s.file = s.file, ""
	}
	if s.id == "" {
		return secretSource{}, fmt.Errorf("--secret %q: missing id", v)
	}
	if s.env != "" && s.file != "" {
		return secretSource{}, fmt.Errorf("--secret %q: both a file and an environment variable", v)
	}
	if s.env == "" && s.file == "" {
		if _, ok := lookupEnv(s.id); ok {
			s.env = s.id
		} else {
			s.file = s.id
		}
	}
	return s, nil
}

// readSecrets parses the --secret flags and reads every secret, so a
// missing file fails the build before any step runs. A variable that is
// not set gives an empty secret, as in BuildKit.
func readSecrets(vals []string, lookupEnv func(string) (string, bool)) (map[string][]byte, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	out := make(map[string][]byte, len(vals))
	for _, v := range vals {
		s, err := parseSecretFlag(v, lookupEnv)
		if err != nil {
			return nil, err
		}
		if s.env != "" {
			val, _ := lookupEnv(s.env)
			if len(val) > maxSecretSize {
				return nil, fmt.Errorf("secret %s: environment variable %s is larger than %d bytes", s.id, s.env, maxSecretSize)
			}
			out[s.id] = []byte(val)
			continue
		}
		data, err := readSecretFile(s.file)
		if err != nil {
			return nil, fmt.Errorf("secret %s: %w", s.id, err)
		}
		out[s.id] = data
	}
	return out, nil
}

// readSecretFile reads at most maxSecretSize bytes of p, refusing more.
func readSecretFile(p string) (data []byte, err error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("reading secret file: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("closing secret file %s: %w", p, cerr)
		}
	}()
	data, err = io.ReadAll(io.LimitReader(f, maxSecretSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading secret file %s: %w", p, err)
	}
	if len(data) > maxSecretSize {
		return nil, fmt.Errorf("secret file %s is larger than %d bytes", p, maxSecretSize)
	}
	return data, nil
}
