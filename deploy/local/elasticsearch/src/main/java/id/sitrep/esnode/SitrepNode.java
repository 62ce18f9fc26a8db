package id.sitrep.esnode;

import org.apache.logging.log4j.LogManager;
import org.apache.logging.log4j.Logger;
import org.elasticsearch.Build;
import org.elasticsearch.cluster.ClusterName;
import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.http.HttpServerTransport;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.Node;
import org.elasticsearch.node.SitrepEmbeddedNode;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.transport.netty4.Netty4Plugin;

import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Launcher for a local, single-node Elasticsearch 8.19 built from the Maven Central jars (no Docker, no tarball).
 *
 * <pre>
 * java -Xms512m -Xmx512m -cp 'target/sitrep-es-node.jar:target/lib/*' id.sitrep.esnode.SitrepNode \
 *      --home /path/to/es-home [--http-port 9200] [--host 127.0.0.1] [--node-name sitrep-local-1] [-E key=value ...]
 * </pre>
 *
 * Every option can also be given as a system property: {@code sitrep.es.home}, {@code sitrep.es.http.port},
 * {@code sitrep.es.host}, {@code sitrep.es.transport.port}, {@code sitrep.es.node.name}, {@code sitrep.es.cluster.name}.
 * Command-line arguments win over system properties. Everything (config, data, logs, tmp) lives under the home folder.
 */
public final class SitrepNode {

    static final String DEFAULT_CLUSTER_NAME = "sitrep-local";
    static final List<Class<? extends Plugin>> PLUGINS = List.of(
        Netty4Plugin.class,
        RestCompatPlugin.class,
        IndonesianAnalysisPlugin.class
    );

    private SitrepNode() {}

    public static void main(String[] args) {
        final PrintStream err = System.err;
        final Options options;
        try {
            options = Options.parse(args);
        } catch (IllegalArgumentException e) {
            err.println("error: " + e.getMessage());
            err.println(Options.USAGE);
            System.exit(2);
            return;
        }
        if (options.help) {
            System.out.println(Options.USAGE);
            return;
        }
        try {
            run(options);
        } catch (Throwable t) {
            // logging may or may not be configured at this point: report on both channels
            try {
                LogManager.getLogger(SitrepNode.class).fatal("sitrep-es: node failed to start", t);
            } catch (Throwable ignored) {}
            err.println("sitrep-es: node failed to start: " + t);
            t.printStackTrace(err);
            err.flush();
            Runtime.getRuntime().halt(1);
        }
    }

    private static void run(Options o) throws Exception {
        final Path home = o.home.toAbsolutePath().normalize();
        final Path config = home.resolve("config");
        final Path data = home.resolve("data");
        final Path logs = home.resolve("logs");
        final Path tmp = home.resolve("tmp");
        for (Path p : List.of(config, data, logs, tmp)) {
            Files.createDirectories(p);
        }

        // Must happen before log4j / netty / any temp-file user is initialised (same defaults as ES' jvm.options).
        System.setProperty("java.io.tmpdir", tmp.toString());
        setIfAbsent("log4j.shutdownHookEnabled", "false"); // we stop log4j ourselves after the node is closed
        setIfAbsent("log4j2.disable.jmx", "true");
        setIfAbsent("log4j2.formatMsgNoLookups", "true");
        setIfAbsent("jna.nosys", "true"); // use the JNA bundled in elasticsearch-native, never a system one
        setIfAbsent("io.netty.noUnsafe", "true");
        setIfAbsent("io.netty.noKeySetOptimization", "true");
        setIfAbsent("io.netty.recycler.maxCapacityPerThread", "0");

        Path log4jConfig = config.resolve("log4j2.properties");
        if (Files.exists(log4jConfig) == false) {
            try (InputStream in = SitrepNode.class.getResourceAsStream("log4j2.properties")) {
                if (in == null) {
                    throw new IllegalStateException("log4j2.properties resource missing from launcher jar");
                }
                Files.copy(in, log4jConfig);
            }
        }

        Settings.Builder input = Settings.builder()
            .put(Environment.PATH_HOME_SETTING.getKey(), home.toString())
            .put(Environment.PATH_DATA_SETTING.getKey(), data.toString())
            .put(Environment.PATH_LOGS_SETTING.getKey(), logs.toString())
            .put(ClusterName.CLUSTER_NAME_SETTING.getKey(), o.clusterName)
            .put(Node.NODE_NAME_SETTING.getKey(), o.nodeName)
            .put("discovery.type", "single-node")
            .put("network.host", o.host)
            .put("http.port", o.httpPort)
            .put("transport.port", o.transportPort)
            // a nearly full CI disk must not make indices read-only / unassigned
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .put("action.destructive_requires_name", false)
            // no ingest-geoip module, no data tiers: keep the node quiet about them
            .put("node.roles", "master,data,ingest");
        o.extra.forEach(input::put);

        Environment initialEnv = InternalSettingsPreparer.prepareEnvironment(
            input.build(),
            Map.of(Environment.PATH_HOME_SETTING.getKey(), home.toString()),
            config,
            () -> o.nodeName
        );

        // same sequence as org.elasticsearch.bootstrap.Elasticsearch#initPhase1
        LogConfigurator.registerErrorListener();
        LogConfigurator.setClusterName(ClusterName.CLUSTER_NAME_SETTING.get(initialEnv.settings()).value());
        LogConfigurator.setNodeName(Node.NODE_NAME_SETTING.get(initialEnv.settings()));
        LogConfigurator.configure(initialEnv, true);

        final Logger logger = LogManager.getLogger(SitrepNode.class);
        final Runtime.Version jvm = Runtime.version();
        logger.info(
            "sitrep-es: starting Elasticsearch {} (Lucene {}) on JVM {} [{}], home [{}], pid [{}]",
            Build.current().qualifiedVersion(),
            org.apache.lucene.util.Version.LATEST,
            jvm,
            System.getProperty("java.vm.name"),
            home,
            ProcessHandle.current().pid()
        );
        logger.info("sitrep-es: heap max [{}m], plugins {}", Runtime.getRuntime().maxMemory() >> 20, PLUGINS.stream().map(Class::getSimpleName).toList());

        final long t0 = System.nanoTime();
        final SitrepEmbeddedNode node = new SitrepEmbeddedNode(initialEnv, PLUGINS);
        final CountDownLatch stopped = new CountDownLatch(1);

        Thread hook = new Thread(() -> {
            Logger l = LogManager.getLogger(SitrepNode.class);
            l.info("sitrep-es: shutdown requested, closing node");
            try {
                node.prepareForClose();
                node.close();
                if (node.awaitClose(30, TimeUnit.SECONDS) == false) {
                    l.warn("sitrep-es: node did not close within 30s");
                } else {
                    l.info("sitrep-es: node closed cleanly");
                }
            } catch (Throwable t) {
                l.error("sitrep-es: error while closing node", t);
            } finally {
                stopped.countDown();
                LogManager.shutdown();
            }
        }, "sitrep-es-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);

        node.start();

        HttpServerTransport http = node.injector().getInstance(HttpServerTransport.class);
        logger.info(
            "sitrep-es: STARTED Elasticsearch {} cluster [{}] node [{}] http [{}] in {} ms",
            Build.current().version(),
            o.clusterName,
            o.nodeName,
            http.boundAddress().publishAddress(),
            TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0)
        );

        // all ES threads are daemon threads: keep the JVM alive until the shutdown hook has closed the node
        stopped.await();
    }

    private static void setIfAbsent(String key, String value) {
        if (System.getProperty(key) == null) {
            System.setProperty(key, value);
        }
    }

    static final class Options {
        static final String USAGE = """
            usage: java [jvm options] -cp 'target/sitrep-es-node.jar:target/lib/*' id.sitrep.esnode.SitrepNode [options]
              --home DIR            base folder for config/, data/, logs/, tmp/  (-Dsitrep.es.home, default ./es-home)
              --http-port PORT      HTTP port (-Dsitrep.es.http.port, default 9200)
              --host HOST           bind/publish host (-Dsitrep.es.host, default 127.0.0.1)
              --transport-port P    transport port or range (-Dsitrep.es.transport.port, default 9300-9399)
              --node-name NAME      node name (-Dsitrep.es.node.name, default sitrep-local-1)
              --cluster-name NAME   cluster name (-Dsitrep.es.cluster.name, default sitrep-local)
              -E key=value          any other Elasticsearch node setting (repeatable)
              -h, --help            this help""";

        Path home = Path.of(System.getProperty("sitrep.es.home", "es-home"));
        String httpPort = System.getProperty("sitrep.es.http.port", "9200");
        String host = System.getProperty("sitrep.es.host", "127.0.0.1");
        String transportPort = System.getProperty("sitrep.es.transport.port", "9300-9399");
        String nodeName = System.getProperty("sitrep.es.node.name", "sitrep-local-1");
        String clusterName = System.getProperty("sitrep.es.cluster.name", DEFAULT_CLUSTER_NAME);
        final Map<String, String> extra = new LinkedHashMap<>();
        boolean help;

        static Options parse(String[] args) {
            Options o = new Options();
            List<String> a = new ArrayList<>(List.of(args));
            for (int i = 0; i < a.size(); i++) {
                String arg = a.get(i);
                String value = null;
                int eq = arg.indexOf('=');
                if (arg.startsWith("--") && eq > 0) {
                    value = arg.substring(eq + 1);
                    arg = arg.substring(0, eq);
                }
                switch (arg) {
                    case "-h", "--help" -> o.help = true;
                    case "--home" -> o.home = Path.of(value != null ? value : next(a, ++i, arg));
                    case "--http-port" -> o.httpPort = value != null ? value : next(a, ++i, arg);
                    case "--host" -> o.host = value != null ? value : next(a, ++i, arg);
                    case "--transport-port" -> o.transportPort = value != null ? value : next(a, ++i, arg);
                    case "--node-name" -> o.nodeName = value != null ? value : next(a, ++i, arg);
                    case "--cluster-name" -> o.clusterName = value != null ? value : next(a, ++i, arg);
                    case "-E" -> {
                        String kv = next(a, ++i, arg);
                        int k = kv.indexOf('=');
                        if (k <= 0) {
                            throw new IllegalArgumentException("-E expects key=value, got [" + kv + "]");
                        }
                        o.extra.put(kv.substring(0, k), kv.substring(k + 1));
                    }
                    default -> {
                        if (arg.startsWith("-E") && arg.indexOf('=') > 2) {
                            String kv = arg.substring(2);
                            int k = kv.indexOf('=');
                            o.extra.put(kv.substring(0, k), kv.substring(k + 1));
                        } else {
                            throw new IllegalArgumentException("unknown argument [" + a.get(i) + "]");
                        }
                    }
                }
            }
            Integer.parseInt(o.httpPort); // fail fast on garbage
            return o;
        }

        private static String next(List<String> a, int i, String opt) {
            if (i >= a.size()) {
                throw new IllegalArgumentException(opt + " needs a value");
            }
            return a.get(i);
        }
    }
}
