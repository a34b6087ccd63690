package sbom

import (
	"archive/zip"
	"bufio"
	"bytes"
	"io"
	"os"
	"path"
	"strings"
)

// jarMaxNested is the largest compressed nested jar read into memory.
const jarMaxNested = 64 << 20

// readJar reads the pom.properties files of a jar (or war, ear) and of the
// jars it carries one level deep (Spring Boot's BOOT-INF/lib, WEB-INF/lib).
func readJar(abs, p string) ([]Package, error) {
	f, err := os.Open(abs)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	zr, err := zip.NewReader(f, fi.Size())
	if err != nil {
		return nil, nil // not a zip
	}
	out := jarPoms(zr, p, "")
	for _, e := range zr.File {
		if !isJarName(e.Name) || strings.Count(strings.TrimSuffix(e.Name, "/"), "/") > 3 {
			continue
		}
		inner, err := openNested(f, e)
		if err != nil || inner == nil {
			continue
		}
		out = append(out, jarPoms(inner, p, e.Name)...)
	}
	return out, nil
}

func isJarName(n string) bool {
	return strings.HasSuffix(n, ".jar") || strings.HasSuffix(n, ".war")
}

// openNested opens a jar stored in a jar: in place when it is stored
// uncompressed (as Spring Boot stores them), else read into memory.
func openNested(outer io.ReaderAt, e *zip.File) (*zip.Reader, error) {
	if e.Method == zip.Store {
		off, err := e.DataOffset()
		if err != nil {
			return nil, err
		}
		return zip.NewReader(io.NewSectionReader(outer, off, int64(e.UncompressedSize64)), int64(e.UncompressedSize64))
	}
	if e.UncompressedSize64 > jarMaxNested {
		return nil, nil
	}
	rc, err := e.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, jarMaxNested))
	if err != nil {
		return nil, err
	}
	return zip.NewReader(bytes.NewReader(data), int64(len(data)))
}

// jarPoms reads META-INF/maven/<group>/<artifact>/pom.properties entries.
func jarPoms(zr *zip.Reader, p, location string) []Package {
	var out []Package
	for _, e := range zr.File {
		if !strings.HasPrefix(e.Name, "META-INF/maven/") || path.Base(e.Name) != "pom.properties" {
			continue
		}
		props, err := readProperties(e)
		if err != nil || props["artifactId"] == "" || props["version"] == "" {
			continue
		}
		out = append(out, Package{Type: "maven", Group: props["groupId"], Name: props["artifactId"], Version: props["version"], Path: p, Location: location})
	}
	return out
}

// readProperties reads a Java properties file's simple key=value lines.
func readProperties(e *zip.File) (map[string]string, error) {
	rc, err := e.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	props := map[string]string{}
	sc := bufio.NewScanner(io.LimitReader(rc, 1<<20))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			k, v, ok = strings.Cut(line, ":")
		}
		if ok {
			props[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return props, sc.Err()
}
