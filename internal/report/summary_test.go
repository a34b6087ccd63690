package report

import (
	"bytes"
	"testing"
)

func TestWriteCacheSummary(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   *CacheSummary
		want string
	}{
		{"none", nil, ""},
		{"import", &CacheSummary{Import: &CachePhase{Seconds: 0.23, Blobs: 2, Bytes: 12_100_000}},
			"importing cache 0.2 s, 2 blobs, 12.1MB\n"},
		{"export", &CacheSummary{Export: &CachePhase{Seconds: 0.81, Blobs: 1, Bytes: 41_000_000, Present: 12, Mounted: 1, Records: 30}},
			"exporting cache 0.8 s, 1 blob, 41MB (12 already there, 1 mounted; 30 records)\n"},
		{"both", &CacheSummary{Import: &CachePhase{}, Export: &CachePhase{Present: 3, Records: 3}},
			"importing cache 0.0 s, 0 blobs, 0B\nexporting cache 0.0 s, 0 blobs, 0B (3 already there; 3 records)\n"},
	} {
		var b bytes.Buffer
		WriteCacheSummary(&b, tc.in)
		if b.String() != tc.want {
			t.Errorf("%s: WriteCacheSummary() = %q, want %q", tc.name, b.String(), tc.want)
		}
	}
}
