import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// glibc's pipe2, which the Glibc module hides behind _GNU_SOURCE: the pipe
/// must be close-on-exec from birth, or a child spawned by another thread
/// meanwhile inherits it and holds our end open.
@_silgen_name("pipe2")
private func pipe2(_ descriptors: UnsafeMutablePointer<Int32>, _ flags: Int32) -> Int32

/// A child process started with posix_spawn and reaped with waitpid.
///
/// Not Foundation's `Process`: on Linux its `waitUntilExit` depends on a
/// shared reaper that was seen to stall under the parallel test run
/// (children left as zombies, the calling threads, cooperative ones among
/// them, blocked for good).
public final class ChildProcess: @unchecked Sendable {
    public let pid: pid_t
    /// Our ends of the child's stdin and stdout pipes.
    public let input: Int32
    public let output: Int32
    private let state = NSLock()
    private var exitStatus: Int32?
    private let inputState = NSLock()
    private var inputOpen = true

    /// Standard error goes to `errorFile` (or nowhere), so a chatty child can
    /// never fill a pipe nobody reads.
    public init(_ executable: String, _ arguments: [String], environment: [String: String] = [:], errorFile: String? = nil) throws {
        var stdinPipe: [Int32] = [0, 0]
        var stdoutPipe: [Int32] = [0, 0]
        guard pipe2(&stdinPipe, O_CLOEXEC) == 0, pipe2(&stdoutPipe, O_CLOEXEC) == 0 else {
            throw CommandFailed(command: executable, status: -1, stderr: "pipe: \(String(cString: strerror(errno)))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdinPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutPipe[1], 1)
        posix_spawn_file_actions_addopen(&actions, 2, errorFile ?? "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o600)

        let variables = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }.map { "\($0.key)=\($0.value)" }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = variables.map { strdup($0) } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        close(stdinPipe[0])
        close(stdoutPipe[1])
        guard spawned == 0 else {
            close(stdinPipe[1])
            close(stdoutPipe[0])
            throw CommandFailed(command: executable, status: -1, stderr: "spawn: \(String(cString: strerror(spawned)))")
        }
        self.pid = pid
        input = stdinPipe[1]
        output = stdoutPipe[0]
    }

    deinit {
        closeInput()
        close(output)
    }

    /// Closes the child's stdin (it reads end of file); once.
    public func closeInput() {
        inputState.withLock {
            if inputOpen { close(input) }
            inputOpen = false
        }
    }

    /// Reads stdout up to a newline (without it), or to its end.
    public func readLine() -> String {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while Glibc.read(output, &byte, 1) == 1, byte != 0x0A { line.append(byte) }
        return String(decoding: line, as: UTF8.self)
    }

    /// Reads stdout to its end.
    public func readToEnd() -> [UInt8] {
        var collected: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(output, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return collected }
            collected += chunk[..<count]
        }
    }

    /// Blocks until the child exits; its exit code (128 + signal when killed).
    @discardableResult
    public func wait() -> Int32 {
        state.lock()
        defer { state.unlock() }
        if let exitStatus { return exitStatus }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let code = Self.exitCode(status)
        exitStatus = code
        return code
    }

    /// WIFEXITED / WEXITSTATUS, spelled out (the macros are not imported).
    private static func exitCode(_ status: Int32) -> Int32 {
        (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    }

    /// SIGTERM, SIGKILL if it is still there after `grace`, then reaped.
    public func terminate(grace: TimeInterval = 5) {
        guard state.withLock({ exitStatus == nil }) else { return }
        kill(pid, SIGTERM)
        // A timer, not a poll: the blocking wait below returns the moment the child exits.
        let escalation = DispatchWorkItem { [self] in
            state.withLock { if exitStatus == nil { kill(pid, SIGKILL) } }
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + grace, execute: escalation)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        state.withLock { exitStatus = Self.exitCode(status) }
        escalation.cancel()
    }
}

/// Runs a program to completion; returns its standard output.
@discardableResult
public func run(_ executable: String, _ arguments: [String], input: String? = nil, environment: [String: String] = [:]) throws -> String {
    let errorFile = FileManager.default.temporaryDirectory.appendingPathComponent("child-\(UUID().uuidString).stderr").path
    defer { unlink(errorFile) }
    let child = try ChildProcess(executable, arguments, environment: environment, errorFile: errorFile)
    // Feed stdin from its own thread while this one drains stdout.
    let writer = Thread { [input, child, descriptor = child.input] in
        if let input {
            let bytes = Array(input.utf8)
            var offset = 0
            while offset < bytes.count {
                let written = bytes[offset...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { break }
                offset += written
            }
        }
        child.closeInput()
    }
    writer.start()
    let output = child.readToEnd()
    let exitCode = child.wait()
    guard exitCode == 0 else {
        let errors = FileManager.default.contents(atPath: errorFile) ?? Data()
        throw CommandFailed(
            command: ([executable] + arguments.prefix(1)).joined(separator: " "), status: exitCode,
            stderr: String(decoding: errors, as: UTF8.self))
    }
    return String(decoding: output, as: UTF8.self)
}
