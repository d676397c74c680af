import ArgumentParser
import IVPack
import Foundation

/// Runs a command body, printing ivpack errors to standard error and turning them into the
/// documented exit codes. Anything unexpected is an environment failure (3), never a crash.
func reportingErrors(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let error as IVPackError {
        printError("error: \(error)")
        throw ExitCode(error.exitStatus.rawValue)
    } catch let error as ExitCode {
        throw error
    } catch {
        printError("error: \(error)")
        throw ExitCode(ExitStatus.environment.rawValue)
    }
}

/// `reportingErrors` for async command bodies.
func reportingErrorsAsync(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as IVPackError {
        printError("error: \(error)")
        throw ExitCode(error.exitStatus.rawValue)
    } catch let error as ExitCode {
        throw error
    } catch {
        printError("error: \(error)")
        throw ExitCode(ExitStatus.environment.rawValue)
    }
}

func printError(_ text: String) {
    var line = text
    if !line.hasSuffix("\n") { line += "\n" }
    FileHandle.standardError.write(Data(line.utf8))
}

/// Writes a JSON value for machines: pretty-printed, keys sorted.
func printJSON(_ value: JSONValue) {
    print(PrettyJSON.render(value))
}
