package id.sitrep.esnode;

import org.apache.lucene.analysis.Analyzer;
import org.apache.lucene.analysis.CharArraySet;
import org.apache.lucene.analysis.TokenStream;
import org.apache.lucene.analysis.Tokenizer;
import org.apache.lucene.analysis.charfilter.HTMLStripCharFilter;
import org.apache.lucene.analysis.core.KeywordTokenizer;
import org.apache.lucene.analysis.core.WhitespaceTokenizer;
import org.apache.lucene.analysis.id.IndonesianAnalyzer;
import org.apache.lucene.analysis.id.IndonesianStemFilter;
import org.apache.lucene.analysis.miscellaneous.ASCIIFoldingFilter;
import org.apache.lucene.analysis.miscellaneous.TrimFilter;
import org.apache.lucene.analysis.ngram.EdgeNGramTokenFilter;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.index.IndexSettings;
import org.elasticsearch.index.analysis.AbstractCharFilterFactory;
import org.elasticsearch.index.analysis.AbstractIndexAnalyzerProvider;
import org.elasticsearch.index.analysis.AbstractTokenizerFactory;
import org.elasticsearch.index.analysis.AbstractTokenFilterFactory;
import org.elasticsearch.index.analysis.Analysis;
import org.elasticsearch.index.analysis.AnalyzerProvider;
import org.elasticsearch.index.analysis.CharFilterFactory;
import org.elasticsearch.index.analysis.NormalizingTokenFilterFactory;
import org.elasticsearch.index.analysis.TokenFilterFactory;
import org.elasticsearch.index.analysis.TokenizerFactory;
import org.elasticsearch.indices.analysis.AnalysisModule.AnalysisProvider;
import org.elasticsearch.plugins.AnalysisPlugin;
import org.elasticsearch.plugins.Plugin;

import java.io.Reader;
import java.util.Map;

/**
 * Minimal replacement for the parts of Elasticsearch's {@code analysis-common} module that sitrep needs
 * (that module is not published to Maven Central).
 *
 * <ul>
 *   <li>analyzer {@code indonesian}: Lucene's {@link IndonesianAnalyzer}; like analysis-common it accepts
 *       {@code stopwords}, {@code stopwords_path} and {@code stem_exclusion} when declared as a custom-typed analyzer
 *       ({@code "type": "indonesian"}).</li>
 *   <li>token filter {@code indonesian_stem}: Lucene's {@link IndonesianStemFilter} (derivational stemming on).</li>
 *   <li>token filter {@code asciifolding}: Lucene's {@link ASCIIFoldingFilter} ({@code preserve_original} supported).</li>
 *   <li>token filter {@code trim}, token filter {@code edge_ngram} ({@code min_gram} 1, {@code max_gram} 2,
 *       {@code preserve_original} false by default), tokenizers {@code whitespace} and {@code keyword},
 *       char filter {@code html_strip} – trivial wrappers of the Lucene classes, same names/defaults as analysis-common.</li>
 * </ul>
 * The {@code lowercase} and {@code stop} token filters and the {@code standard} tokenizer already ship with the server.
 */
public class IndonesianAnalysisPlugin extends Plugin implements AnalysisPlugin {

    @Override
    public Map<String, AnalysisProvider<AnalyzerProvider<? extends Analyzer>>> getAnalyzers() {
        return Map.of("indonesian", IndonesianAnalyzerProvider::new);
    }

    @Override
    public Map<String, AnalysisProvider<TokenFilterFactory>> getTokenFilters() {
        return Map.of(
            "indonesian_stem",
            IndonesianStemFilterFactory::new,
            "asciifolding",
            AsciiFoldingFilterFactory::new,
            "trim",
            TrimFilterFactory::new,
            "edge_ngram",
            EdgeNGramFilterFactory::new
        );
    }

    @Override
    public Map<String, AnalysisProvider<TokenizerFactory>> getTokenizers() {
        return Map.of("whitespace", (indexSettings, env, name, settings) -> new AbstractTokenizerFactory(indexSettings, settings, name) {
            @Override
            public Tokenizer create() {
                return new WhitespaceTokenizer();
            }
        }, "keyword", (indexSettings, env, name, settings) -> new AbstractTokenizerFactory(indexSettings, settings, name) {
            @Override
            public Tokenizer create() {
                return new KeywordTokenizer();
            }
        });
    }

    @Override
    public Map<String, AnalysisProvider<CharFilterFactory>> getCharFilters() {
        return Map.of("html_strip", (indexSettings, env, name, settings) -> new AbstractCharFilterFactory(name) {
            @Override
            public Reader create(Reader reader) {
                return new HTMLStripCharFilter(reader);
            }
        });
    }

    static final class EdgeNGramFilterFactory extends AbstractTokenFilterFactory {
        private final int minGram;
        private final int maxGram;
        private final boolean preserveOriginal;

        EdgeNGramFilterFactory(IndexSettings indexSettings, Environment env, String name, Settings settings) {
            super(name, settings);
            minGram = settings.getAsInt("min_gram", 1);
            maxGram = settings.getAsInt("max_gram", 2);
            preserveOriginal = settings.getAsBoolean("preserve_original", false);
            if (minGram < 1 || maxGram < minGram) {
                throw new IllegalArgumentException("edge_ngram needs 1 <= min_gram <= max_gram, got [" + minGram + ", " + maxGram + "]");
            }
        }

        @Override
        public TokenStream create(TokenStream tokenStream) {
            return new EdgeNGramTokenFilter(tokenStream, minGram, maxGram, preserveOriginal);
        }
    }

    static final class IndonesianAnalyzerProvider extends AbstractIndexAnalyzerProvider<IndonesianAnalyzer> {
        private final IndonesianAnalyzer analyzer;

        IndonesianAnalyzerProvider(IndexSettings indexSettings, Environment env, String name, Settings settings) {
            super(name, settings);
            analyzer = new IndonesianAnalyzer(
                Analysis.parseStopWords(env, settings, IndonesianAnalyzer.getDefaultStopSet()),
                Analysis.parseStemExclusion(settings, CharArraySet.EMPTY_SET)
            );
        }

        @Override
        public IndonesianAnalyzer get() {
            return analyzer;
        }
    }

    static final class IndonesianStemFilterFactory extends AbstractTokenFilterFactory {
        private final boolean stemDerivational;

        IndonesianStemFilterFactory(IndexSettings indexSettings, Environment env, String name, Settings settings) {
            super(name, settings);
            stemDerivational = settings.getAsBoolean("stem_derivational", true);
        }

        @Override
        public TokenStream create(TokenStream tokenStream) {
            return new IndonesianStemFilter(tokenStream, stemDerivational);
        }
    }

    static final class TrimFilterFactory extends AbstractTokenFilterFactory implements NormalizingTokenFilterFactory {
        TrimFilterFactory(IndexSettings indexSettings, Environment env, String name, Settings settings) {
            super(name, settings);
        }

        @Override
        public TokenStream create(TokenStream tokenStream) {
            return new TrimFilter(tokenStream);
        }
    }

    static final class AsciiFoldingFilterFactory extends AbstractTokenFilterFactory implements NormalizingTokenFilterFactory {
        private final boolean preserveOriginal;

        AsciiFoldingFilterFactory(IndexSettings indexSettings, Environment env, String name, Settings settings) {
            super(name, settings);
            preserveOriginal = settings.getAsBoolean("preserve_original", false);
        }

        @Override
        public TokenStream create(TokenStream tokenStream) {
            return new ASCIIFoldingFilter(tokenStream, preserveOriginal);
        }

        @Override
        public TokenStream normalize(TokenStream tokenStream) {
            // like analysis-common: never emit the original token in a normalizer
            return new ASCIIFoldingFilter(tokenStream, false);
        }
    }
}
