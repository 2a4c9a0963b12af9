import Foundation

/// The Python interpreter of the project's test tools: `.venv/bin/python`,
/// which `make deps` creates with pinned packages from PyPI (fastavro,
/// requests, …) on top of Debian's python3-confluent-kafka.
/// `CONSUMERD_TEST_PYTHON` overrides it.
public enum TestPython {
    public static let path: String = {
        if let configured = ProcessInfo.processInfo.environment["CONSUMERD_TEST_PYTHON"] { return configured }
        return "\(packageRoot)/.venv/bin/python"
    }()

    /// The repository root, from this file's location (Tests/TestSupport/).
    public static let packageRoot: String = {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }()

    /// Runs a script file from the repository with the test interpreter.
    public static func run(script: String, _ arguments: [String] = [], input: String? = nil) throws -> String {
        try TestSupport.run(path, ["\(packageRoot)/\(script)"] + arguments, input: input)
    }
}
