package sbom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// scannerVersion is written in every cached record; a record of another
// version is rescanned. Bump it whenever a cataloger finds more or less.
const scannerVersion = 3

// cachedScan returns the layer's scan from cacheDir, or scans the layer
// and stores the result there. Only a miss opens the layer.
func cachedScan(ctx context.Context, j layerJob, cacheDir string) (*layerScan, error) {
	cacheable := cacheDir != "" && j.diffID != (v1.Hash{})
	var file string
	if cacheable {
		file = filepath.Join(cacheDir, j.diffID.Hex+".json")
		if s, ok := readRecord(file, j.diffID); ok {
			return s, nil
		}
	}
	dir, err := j.dir(ctx)
	if err != nil {
		return nil, err
	}
	if dir == "" {
		return nil, errors.New("finding layer: no directory and no cached record")
	}
	s, err := scanDir(ctx, dir)
	if err != nil {
		return nil, err
	}
	s.Scanner, s.DiffID = scannerVersion, diffIDString(j.diffID)
	if cacheable {
		if err := writeRecord(cacheDir, file, s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// readRecord reads a cached record; a missing, unreadable, foreign or
// older record is a miss.
func readRecord(file string, diffID v1.Hash) (*layerScan, bool) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, false
	}
	var s layerScan
	if json.Unmarshal(data, &s) != nil || s.Scanner != scannerVersion || s.DiffID != diffID.String() {
		return nil, false
	}
	return &s, true
}

// writeRecord writes s to file atomically: a temp file in dir renamed over
// it, so a reader sees a whole record or none.
func writeRecord(dir, file string, s *layerScan) (err error) {
	data, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encoding sbom record: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("creating sbom cache: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("writing sbom record: %w", err)
	}
	defer func() {
		if err != nil {
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing sbom record: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing sbom record: %w", err)
	}
	if err := os.Rename(tmp.Name(), file); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("writing sbom record: %w", err)
	}
	return nil
}
