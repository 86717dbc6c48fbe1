// What a Java service of ours would write to call `afinar serve`: Java 17's own java.net.http, no
// SDK. Trusts one CA certificate (PEM), speaks TLS 1.3 only, sends the API key as a bearer token,
// asks once plainly and once streamed, and prints what came back for the test to check.
//
//   java AfinarClient.java BASE_URL API_KEY CA_PEM MODEL PROMPT
// stdout: "status <code>" and the JSON body of the plain answer, then "stream <code>" and each
// server-sent event's data line as received.
import java.io.FileInputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.TrustManagerFactory;

public class AfinarClient {
    public static void main(String[] args) throws Exception {
        String base = args[0], key = args[1], model = args[3], prompt = args[4];
        KeyStore trust = KeyStore.getInstance(KeyStore.getDefaultType());
        trust.load(null, null);
        try (FileInputStream pem = new FileInputStream(args[2])) {
            trust.setCertificateEntry("afinar", CertificateFactory.getInstance("X.509").generateCertificate(pem));
        }
        TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(trust);
        SSLContext tls = SSLContext.getInstance("TLSv1.3");
        tls.init(null, tmf.getTrustManagers(), null);
        HttpClient http = HttpClient.newBuilder()
                .sslContext(tls)
                .sslParameters(new SSLParameters(null, new String[] {"TLSv1.3"}))
                .connectTimeout(Duration.ofSeconds(10))
                .build();

        String body = "{\"model\": \"" + model + "\", \"max_tokens\": 8, \"temperature\": 0, "
                + "\"messages\": [{\"role\": \"user\", \"content\": \"" + prompt + "\"}]";
        HttpResponse<String> plain = http.send(request(base, key, body + "}"), HttpResponse.BodyHandlers.ofString());
        System.out.println("status " + plain.statusCode());
        System.out.println(plain.body());

        HttpResponse<java.util.stream.Stream<String>> stream =
                http.send(request(base, key, body + ", \"stream\": true}"), HttpResponse.BodyHandlers.ofLines());
        System.out.println("stream " + stream.statusCode());
        stream.body().filter(line -> line.startsWith("data: ")).forEach(System.out::println);
    }

    static HttpRequest request(String base, String key, String json) {
        return HttpRequest.newBuilder(URI.create(base + "/v1/chat/completions"))
                .header("Authorization", "Bearer " + key)
                .header("Content-Type", "application/json")
                .timeout(Duration.ofSeconds(120))
                .POST(HttpRequest.BodyPublishers.ofString(json))
                .build();
    }
}
