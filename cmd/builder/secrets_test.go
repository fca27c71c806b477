package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseSecretFlag(t *testing.T) {
	env := map[string]string{"SET": "v"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for _, tc := range []struct {
		in      string
		want    secretSource
		wantErr string
	}{
		{in: "id=a,src=/f", want: secretSource{id: "a", file: "/f"}},
		{in: "id=a,source=/f,type=file", want: secretSource{id: "a", file: "/f"}},
		{in: "id=a,env=X", want: secretSource{id: "a", env: "X"}},
		{in: "type=env,id=a,src=X", want: secretSource{id: "a", env: "X"}},
		{in: "id=SET", want: secretSource{id: "SET", env: "SET"}},
		{in: "id=unset", want: secretSource{id: "unset", file: "unset"}},
		{in: `"id=a,b",src=/f`, want: secretSource{id: "a,b", file: "/f"}},
		{in: "src=/f", wantErr: "missing id"},
		{in: "id=a,type=ssh", wantErr: "unsupported secret type"},
		{in: "id=a,mode=0400", wantErr: "unexpected key"},
		{in: "id=a,required", wantErr: "key=value"},
		{in: "id=a,src=/f,env=X", wantErr: "both"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseSecretFlag(tc.in, lookup)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v; want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("= %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestReadSecrets(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(small, []byte("s3"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(big, make([]byte, maxSecretSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	lookup := func(k string) (string, bool) { return map[string]string{"E": "ev"}[k], k == "E" }
	got, err := readSecrets([]string{"id=f,src=" + small, "id=e,env=E", "id=u,env=UNSET"}, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if string(got["f"]) != "s3" || string(got["e"]) != "ev" || got["u"] == nil || len(got["u"]) != 0 {
		t.Errorf("secrets = %q", got)
	}
	for _, bad := range []string{"id=b,src=" + big, "id=m,src=" + filepath.Join(dir, "missing")} {
		if _, err := readSecrets([]string{bad}, lookup); err == nil {
			t.Errorf("readSecrets(%s) succeeded", bad)
		}
	}
}
