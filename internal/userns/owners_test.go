package userns

import "testing"

// TestInside: a host id as the namespace sees it.
func TestInside(t *testing.T) {
	rs := []Range{{0, 1000, 1}, {1, 100000, 65536}}
	for _, tt := range []struct{ id, want uint32 }{
		{1000, 0}, {100000, 1}, {165535, 65536}, {165536, 65534}, {0, 65534}, {999, 65534}, {4294967295, 65534},
	} {
		if got := inside(rs, tt.id, 65534); got != tt.want {
			t.Errorf("inside(%d) = %d, want %d", tt.id, got, tt.want)
		}
	}
}
