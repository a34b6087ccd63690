package com.example.app;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;

/**
 * The Java example's HTTP service: GET /api/info answers JSON about the
 * service, GET /healthz answers {"status":"ok"}. HOST (default 0.0.0.0)
 * and PORT (default 8080) choose the address. With the argument
 * "healthcheck" it checks a running server instead (the image's HEALTHCHECK).
 */
public final class App {
    private static final long STARTED = System.nanoTime();

    private App() {}

    public static void main(String[] args) throws IOException {
        String host = env("HOST", "0.0.0.0");
        int port = Integer.parseInt(env("PORT", "8080"));
        if (args.length > 0 && args[0].equals("healthcheck")) {
            System.exit(healthcheck(host.equals("0.0.0.0") ? "127.0.0.1" : host, port));
        }
        HttpServer server = HttpServer.create(new InetSocketAddress(host, port), 0);
        server.createContext("/healthz", ex -> json(ex, 200, "{\"status\":\"ok\"}"));
        server.createContext("/api/info", ex -> json(ex, 200, info()));
        server.setExecutor(Executors.newFixedThreadPool(4));
        Runtime.getRuntime().addShutdownHook(new Thread(() -> server.stop(1)));
        server.start();
        System.out.printf("java-example listening on %s:%d%n", host, port);
    }

    static String info() {
        long uptime = (System.nanoTime() - STARTED) / 1_000_000_000L;
        return String.format(
            "{\"service\":\"java-example\",\"language\":\"java\",\"version\":\"%s\",\"user\":\"%s\",\"uptime_s\":%d}",
            System.getProperty("java.version"), System.getProperty("user.name"), uptime);
    }

    private static void json(HttpExchange ex, int status, String body) throws IOException {
        if (!ex.getRequestMethod().equals("GET")) {
            status = 405;
            body = "{\"error\":\"method not allowed\"}";
        }
        byte[] data = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        ex.sendResponseHeaders(status, data.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(data);
        }
    }

    private static int healthcheck(String host, int port) {
        try {
            HttpURLConnection c = (HttpURLConnection) URI.create("http://" + host + ":" + port + "/healthz").toURL().openConnection();
            c.setConnectTimeout(3000);
            c.setReadTimeout(3000);
            return c.getResponseCode() == 200 ? 0 : 1;
        } catch (IOException e) {
            return 1;
        }
    }

    private static String env(String key, String def) {
        String v = System.getenv(key);
        return v == null || v.isEmpty() ? def : v;
    }
}
