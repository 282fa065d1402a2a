// Embedded Neo4j for the polysaga dev/test stack: a Bolt server on loopback, no auth.
//
// Run (see tools/stack/up.sh):
//   java -Xmx768m --add-opens=java.base/java.nio=ALL-UNNAMED \
//        --add-opens=java.base/sun.nio.ch=ALL-UNNAMED \
//        -cp '<repo>/tools/stack/.cache/neo4j/lib/*' Main.java <dataDir> <port> [host]
//
// Uses DatabaseManagementServiceBuilder (from the jars that org.neo4j.test:neo4j-harness pulls in)
// rather than Neo4jBuilders.newInProcessBuilder(dir): the harness always creates a fresh random
// sub-folder under dir and deletes it on close, so nothing would survive a restart. With the plain
// builder the store lives in <dataDir> and persists across restarts.
//
// Stays alive until SIGTERM/SIGINT, then shuts the database down cleanly.

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;

import org.neo4j.configuration.GraphDatabaseInternalSettings;
import org.neo4j.configuration.GraphDatabaseSettings;
import org.neo4j.configuration.connectors.BoltConnector;
import org.neo4j.configuration.helpers.SocketAddress;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;
import org.neo4j.graphdb.GraphDatabaseService;

public class Main {
    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: Main.java <dataDir> <port> [host]");
            System.exit(2);
        }
        Path home = Path.of(args[0]).toAbsolutePath();
        int port = Integer.parseInt(args[1]);
        String host = args.length > 2 ? args[2] : "127.0.0.1";
        Files.createDirectories(home);

        long t0 = System.nanoTime();
        DatabaseManagementService dbms = new DatabaseManagementServiceBuilder(home)
                .setConfig(GraphDatabaseSettings.auth_enabled, false)
                .setConfig(BoltConnector.enabled, true)
                .setConfig(BoltConnector.listen_address, new SocketAddress(host, port))
                .setConfig(GraphDatabaseSettings.default_listen_address, new SocketAddress(host))
                // Keep the footprint small: this is a dev/test store.
                .setConfig(GraphDatabaseSettings.pagecache_memory, 128L * 1024 * 1024)
                .setConfig(GraphDatabaseSettings.keep_logical_logs, "1 files")
                .setConfig(GraphDatabaseSettings.preallocate_logical_logs, false)
                // Bolt's netty shutdown waits a 5 s quiet period twice by default; stop promptly.
                .setConfig(GraphDatabaseInternalSettings.netty_server_shutdown_quiet_period, 0)
                .setConfig(GraphDatabaseInternalSettings.netty_server_shutdown_timeout, Duration.ofSeconds(5))
                .build();

        GraphDatabaseService db = dbms.database(GraphDatabaseSettings.DEFAULT_DATABASE_NAME);
        if (!db.isAvailable(Duration.ofSeconds(60).toMillis())) {
            System.err.println("neo4j: default database did not become available within 60s");
            dbms.shutdown();
            System.exit(1);
        }

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("neo4j: shutting down");
            try {
                dbms.shutdown();
                System.out.println("neo4j: stopped");
            } finally {
                stopped.countDown();
            }
        }, "neo4j-shutdown"));

        long ms = (System.nanoTime() - t0) / 1_000_000;
        System.out.printf("neo4j: ready on bolt://%s:%d (home %s, started in %d ms)%n", host, port, home, ms);
        System.out.flush();
        stopped.await();
    }
}
