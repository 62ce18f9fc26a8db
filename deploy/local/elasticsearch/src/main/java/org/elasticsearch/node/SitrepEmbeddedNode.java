package org.elasticsearch.node;

import org.elasticsearch.env.Environment;
import org.elasticsearch.plugins.MockPluginsService;
import org.elasticsearch.plugins.Plugin;
import org.elasticsearch.plugins.PluginsLoader;
import org.elasticsearch.plugins.PluginsService;

import java.util.Collection;
import java.util.List;

/**
 * A production (non-mock) {@link Node} whose plugins are plain classes on the JVM classpath.
 *
 * <p>Lives in {@code org.elasticsearch.node} because {@link NodeConstruction#prepareConstruction} and
 * {@link NodeServiceProvider} are package-private. Unlike the test framework's {@code MockNode} it does not touch
 * {@code ESTestCase} (randomized-testing runner) and keeps every real service (BigArrays, search, transport, HTTP,
 * cluster-info) – only plugin discovery is replaced: instead of scanning {@code $ES_HOME/modules} and
 * {@code $ES_HOME/plugins} for plugin bundles, the given plugin classes are instantiated from the classpath
 * (via {@link MockPluginsService}, which only depends on server classes).
 */
public class SitrepEmbeddedNode extends Node {

    private final List<Class<? extends Plugin>> classpathPlugins;

    public SitrepEmbeddedNode(Environment environment, Collection<Class<? extends Plugin>> classpathPlugins) {
        super(NodeConstruction.prepareConstruction(environment, null, new NodeServiceProvider() {
            @Override
            PluginsService newPluginService(Environment env, PluginsLoader pluginsLoader) {
                return new MockPluginsService(env.settings(), env, classpathPlugins);
            }
        }, true));
        this.classpathPlugins = List.copyOf(classpathPlugins);
    }

    public List<Class<? extends Plugin>> classpathPlugins() {
        return classpathPlugins;
    }
}
