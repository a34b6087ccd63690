// Command server is the advanced example's HTTP service: GET /api/info
// answers JSON about the service (with the version and build target stamped
// in at build time), GET /healthz answers {"status":"ok"}. It listens
// on $HOST:$PORT, 0.0.0.0:8080 by default. With -healthcheck it checks a
// running server instead, so the image needs no curl for its HEALTHCHECK.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"time"
)

var started = time.Now()

// version and target are set at build time with -ldflags -X.
var (
	version = "dev"
	target  = "local"
)

func main() {
	check := flag.Bool("healthcheck", false, "GET /healthz of the running server and exit 0 if it answers 200")
	flag.Parse()
	host := env("HOST", "0.0.0.0")
	addr := net.JoinHostPort(host, env("PORT", "8080"))
	if *check {
		if host == "0.0.0.0" {
			addr = net.JoinHostPort("127.0.0.1", env("PORT", "8080"))
		}
		if err := healthcheck(addr); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, addr); err != nil {
		log.Fatal(err)
	}
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /api/info", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{
			"service":  "advanced-example",
			"version":  version,
			"target":   env("APP_TARGET", target),
			"go":       runtime.Version(),
			"uid":      os.Getuid(),
			"uptime_s": int(time.Since(started).Seconds()),
		})
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(v); err != nil {
		log.Printf("writing response: %v", err)
	}
}

func serve(ctx context.Context, addr string) error {
	srv := &http.Server{Addr: addr, Handler: routes(), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Printf("advanced-example listening on %s", addr)
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shut); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutting down: %w", err)
	}
	return nil
}

func healthcheck(addr string) error {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + addr + "/healthz")
	if err != nil {
		return fmt.Errorf("checking health: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("checking health: %s", resp.Status)
	}
	return nil
}
