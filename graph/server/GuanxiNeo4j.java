// The local Neo4j that `guanxi db start` runs: Neo4j's documented embedded API
// (DatabaseManagementServiceBuilder) with the Bolt connector, configured from a
// neo4j.conf that guanxi writes. Compiled once by javac into guanxi's cache and run as
//   java -cp "CLASSES:LIB/*" GuanxiNeo4j HOME_DIR CONF_FILE PASSWORD_FILE
// (or, where the JDK has no javac, as a single-file source program:
//   java -cp "LIB/*" GuanxiNeo4j.java HOME_DIR CONF_FILE PASSWORD_FILE).
// It sets the password of user neo4j from PASSWORD_FILE (so the server never
// answers to neo4j/neo4j), then blocks until SIGTERM, when it shuts down cleanly.
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import org.neo4j.dbms.api.DatabaseManagementService;
import org.neo4j.dbms.api.DatabaseManagementServiceBuilder;

public class GuanxiNeo4j {
    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: GuanxiNeo4j HOME_DIR CONF_FILE PASSWORD_FILE");
            System.exit(2);
        }
        Path home = Path.of(args[0]);
        Path conf = Path.of(args[1]);
        String password = Files.readString(Path.of(args[2]), StandardCharsets.UTF_8).strip();

        DatabaseManagementService service =
                new DatabaseManagementServiceBuilder(home).loadPropertiesFromFile(conf).build();
        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("guanxi-neo4j: shutting down");
            service.shutdown();
            stopped.countDown();
        }));
        setPassword(service, password);
        // guanxi waits for this line before logging in (graph/server.py, _password_set).
        System.out.println("guanxi-neo4j: started");
        System.out.flush();
        stopped.await();
    }

    private static void setPassword(DatabaseManagementService service, String password) {
        try {
            service.database("system").executeTransactionally(
                    "ALTER USER neo4j SET PASSWORD $password CHANGE NOT REQUIRED",
                    Map.of("password", password));
        } catch (RuntimeException e) {
            // Restarts find the password already set; anything else is fatal.
            String msg = String.valueOf(e.getMessage());
            if (!msg.contains("cannot be the same")) {
                throw e;
            }
        }
    }
}
