// swift-tools-version:6.2
import PackageDescription

// Layers, bottom up (arrows only point down; C pointers stay in the
// wrappers: Kafka, HTTPServer, HTTPClient, Avro, Parquet's zstd, Iceberg's
// SQLite and the sinks' connections):
//   CRdKafka / CMicroHTTPD / CGnuTLS / CAvro / CCurl / ...   system-library shims
//   DataModel                        values, JSON, strict decoding
//   Parquet                          Parquet data files (Thrift footer, zstd)
//   Kafka, HTTPServer, HTTPClient    C libraries in Swift
//   Avro                             avro-c, Schema Registry client, container files
//   Iceberg                          Iceberg tables: metadata, manifests, catalogs (SQLite)
//   Pipeline                         records, decoders, stages, sinks
//   ConsumerManager                  specs, runtimes, registry, health, metrics
//   ControlPlane                     REST routes over HTTPServer
//   SpecFiles                        specs in JSON and YAML files
//   consumerd                        the executable
let package = Package(
    name: "consumerd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "consumerd", targets: ["consumerd"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        .systemLibrary(
            name: "CMicroHTTPD",
            pkgConfig: "libmicrohttpd",
            providers: [.apt(["libmicrohttpd-dev"])]
        ),
        // TLS for the REST API is libmicrohttpd's (built with GnuTLS on Debian).
        .systemLibrary(
            name: "CGnuTLS",
            pkgConfig: "gnutls",
            providers: [.apt(["libgnutls28-dev"])]
        ),
        .systemLibrary(
            name: "CAvro",
            pkgConfig: "avro-c",
            providers: [.apt(["libavro-dev"])]
        ),
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        // No pkgConfig: hiredis.pc adds -D_FILE_OFFSET_BITS=64, which SwiftPM
        // refuses (with a warning on every build); the headers are in /usr/include.
        .systemLibrary(
            name: "CHiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        // YAML spec files (`consumerd ctl apply`, `serve --specs`).
        .systemLibrary(
            name: "CYAML",
            pkgConfig: "yaml-0.1",
            providers: [.apt(["libyaml-dev"])]
        ),
        .systemLibrary(
            name: "CZstd",
            pkgConfig: "libzstd",
            providers: [.apt(["libzstd-dev"])]
        ),
        // sched_setattr, for the API threads' time slice (see ControlPlaneSlice).
        .systemLibrary(name: "CScheduler"),
        // AES-256-GCM for secrets kept outside the server (SecretBox).
        .systemLibrary(
            name: "CCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        // Values, JSON parsing and writing, strict decoding: no dependencies.
        .target(name: "DataModel"),
        // Parquet files written in Swift; zstd through libzstd.
        .target(name: "Parquet", dependencies: ["CZstd"]),
        // pyiceberg's SQL catalog on SQLite (the Iceberg sink).
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // Iceberg table format v2: metadata, manifests (Avro), catalogs.
        .target(name: "Iceberg", dependencies: ["Avro", "CSQLite", "DataModel", "Parquet"]),
        .target(
            name: "Kafka",
            dependencies: [
                "CRdKafka",
                "DataModel",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Deflate-compressed Avro container files (Iceberg manifests other engines write).
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // Blocking HTTP client (Schema Registry, HTTP sinks, webhooks).
        .target(name: "HTTPClient", dependencies: ["CCurl"]),
        // avro-c in Swift: schemas, decoding with resolution, encoding, the Schema Registry client.
        .target(name: "Avro", dependencies: ["CAvro", "CZlib", "DataModel", "HTTPClient"]),
        .target(
            name: "HTTPServer",
            dependencies: [
                "CGnuTLS",
                "CMicroHTTPD",
                "CScheduler",
                "DataModel",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "Pipeline",
            dependencies: [
                "Avro",
                "DataModel",
                "HTTPClient",
                "Kafka",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Where records go: one file per kind of sink, each with its spec section.
        .target(
            name: "Sinks",
            dependencies: [
                "CHiredis",
                "CLibPQ",
                "DataModel",
                "HTTPClient",
                "Iceberg",
                "Parquet",
                "Kafka",
                "Pipeline",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "ConsumerManager",
            dependencies: [
                "CCrypto",
                "CScheduler",
                "DataModel",
                "HTTPClient",
                "Kafka",
                "Pipeline",
                "Sinks",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // Specs kept in JSON and YAML files, loaded and validated.
        .target(name: "SpecFiles", dependencies: ["CYAML", "ConsumerManager", "DataModel"]),
        .target(
            name: "ControlPlane",
            dependencies: [
                "DataModel",
                "HTTPServer",
                "ConsumerManager",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .executableTarget(
            name: "consumerd",
            dependencies: [
                "Avro",
                "DataModel",
                "HTTPClient",
                "Kafka",
                "HTTPServer",
                "Pipeline",
                "ConsumerManager",
                "ControlPlane",
                "SpecFiles",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Decode cost per record, JSON against Avro (`make bench-decode`).
        .executableTarget(
            name: "decode-bench",
            dependencies: ["Avro", "DataModel", "Kafka", "Pipeline"],
            path: "bench/decode"
        ),
        // Helpers shared by the test targets: real producers (kcat,
        // python3-confluent-kafka), temporary directories, polling waits.
        .target(
            name: "TestSupport",
            dependencies: ["Kafka", .product(name: "Logging", package: "swift-log")],
            path: "Tests/TestSupport"
        ),
        .testTarget(name: "AvroTests", dependencies: ["Avro", "DataModel", "TestSupport"], exclude: ["fastavro_cases.py", "container_files.py"]),
        .testTarget(name: "DataModelTests", dependencies: ["DataModel", "TestSupport"]),
        .testTarget(name: "ParquetTests", dependencies: ["Parquet", "TestSupport"], exclude: ["read_parquet.py"]),
        .testTarget(name: "KafkaTests", dependencies: ["Kafka", "TestSupport"]),
        .testTarget(name: "HTTPServerTests", dependencies: ["HTTPServer", "TestSupport"]),
        .testTarget(name: "PipelineTests", dependencies: ["Avro", "DataModel", "Pipeline", "Kafka", "TestSupport"]),
        .testTarget(name: "SinksTests", dependencies: ["DataModel", "Pipeline", "Kafka", "Sinks", "TestSupport"], exclude: ["read_iceberg.py"]),
        .testTarget(
            name: "ConsumerManagerTests",
            dependencies: [
                "ConsumerManager", "DataModel", "Kafka", "Pipeline", "Sinks", "TestSupport",
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            exclude: ["aesgcm_interop.py"]
        ),
        .testTarget(name: "SpecFilesTests", dependencies: ["ConsumerManager", "DataModel", "SpecFiles", "TestSupport"]),
        .testTarget(
            name: "ControlPlaneTests",
            dependencies: [
                "ControlPlane", "ConsumerManager", "DataModel", "HTTPServer", "Kafka", "TestSupport",
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
