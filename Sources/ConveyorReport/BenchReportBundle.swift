import Foundation

/// The whole `make bench` report: the parts' ``BenchDocument``s, merged into
/// `bench-report/report.json` and drawn as a self-contained `bench-report/report.html`.
///
/// ```swift
/// let bundle = try BenchReportBundle(loading: ["bench-report/core.json", "bench-report/engine.json"])
/// try bundle.write(json: "bench-report/report.json", html: "bench-report/report.html")
/// print(bundle.summary)
/// ```
public struct BenchReportBundle: Codable, Sendable, Hashable {
    /// When the bundle was assembled, "YYYY-MM-DD HH:MM UTC".
    public var generated: String
    public var documents: [BenchDocument]

    public init(generated: String, documents: [BenchDocument]) {
        self.generated = generated
        self.documents = documents
    }

    /// Reads the documents at `paths` in order. A missing or unreadable file is an error that
    /// names it; so is a second document with an id already seen.
    public init(loading paths: [String], generated: String) throws {
        var documents: [BenchDocument] = []
        for path in paths {
            let data: Data
            do {
                data = try Data(contentsOf: URL(fileURLWithPath: path))
            } catch {
                throw BenchReportError.unreadable(path: path, reason: error.localizedDescription)
            }
            let document: BenchDocument
            do {
                document = try BenchDocument.decoder.decode(BenchDocument.self, from: data)
            } catch {
                throw BenchReportError.notADocument(path: path, reason: String(describing: error))
            }
            if documents.contains(where: { $0.id == document.id }) {
                throw BenchReportError.duplicatePart(id: document.id, path: path)
            }
            documents.append(document)
        }
        self.init(generated: generated, documents: documents)
    }

    /// Every aim of every part, with its part's id.
    public var aims: [(part: String, aim: BenchAim)] {
        self.documents.flatMap { document in document.aims.map { (document.id, $0) } }
    }

    /// The compact table `make bench` prints last: each aim, met or missed, per part.
    public var summary: String {
        var text = "Conveyor bench report (\(self.generated))\n"
        for document in self.documents {
            text += "\n\(document.title) — \(document.date), git \(document.revision)\n"
            if document.aims.isEmpty {
                text += "  (no aims; \(document.figures.count) figures)\n"
            }
            let width = document.aims.map(\.text.count).max() ?? 0
            for aim in document.aims {
                let padding = String(repeating: " ", count: max(0, width - aim.text.count))
                text += "  \(aim.met ? "met   " : "MISSED") \(aim.text)\(padding)  \(aim.result)\n"
            }
        }
        let missed = self.aims.filter { !$0.aim.met }.count
        text += "\n\(self.aims.count - missed) of \(self.aims.count) aims met.\n"
        return text
    }

    /// The README's summary: where and when, then every aim with its result.
    public var markdown: String {
        var text = ""
        for document in self.documents {
            text += "- **\(BenchReportBundle.escapeMarkdown(document.title))**: \(document.date), git \(document.revision)\n"
        }
        if let machine = self.documents.first?.machine {
            text += "\nMachine: \(BenchReportBundle.escapeMarkdown(machine))\n"
        }
        text += "\n| part | aim | result | |\n| --- | --- | ---: | --- |\n"
        for (part, aim) in self.aims {
            text += "| \(part) | \(BenchReportBundle.escapeMarkdown(aim.text)) | \(BenchReportBundle.escapeMarkdown(aim.result)) | "
                + "\(aim.met ? "met" : "**missed**") |\n"
        }
        return text
    }

    static func escapeMarkdown(_ text: String) -> String {
        text.replacing("|", with: "\\|").replacing("<", with: "&lt;").replacing(">", with: "&gt;")
    }

    /// Writes the bundle as JSON and as HTML, creating their directories.
    public func write(json jsonPath: String?, html htmlPath: String?, markdown markdownPath: String? = nil) throws {
        if let markdownPath {
            try Self.write(Data(self.markdown.utf8), to: markdownPath)
        }
        if let jsonPath {
            try Self.write(try BenchDocument.encoder.encode(self), to: jsonPath)
        }
        if let htmlPath {
            try Self.write(Data(self.html.utf8), to: htmlPath)
        }
    }

    private static func write(_ data: Data, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: url, options: .atomic)
        } catch {
            throw BenchReportError.unwritable(path: path, reason: error.localizedDescription)
        }
    }
}

/// Why a report could not be read or written.
public enum BenchReportError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case notADocument(path: String, reason: String)
    case duplicatePart(id: String, path: String)
    case unwritable(path: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): "cannot read \(path): \(reason)"
        case .notADocument(let path, let reason): "\(path) is not a bench document (\(reason))"
        case .duplicatePart(let id, let path): "\(path): a second \"\(id)\" part; pass each part once"
        case .unwritable(let path, let reason): "cannot write \(path): \(reason)"
        }
    }
}

extension BenchDocument {
    /// Sorted keys and pretty printing (diffable); NaN and infinities as strings.
    public static var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return encoder
    }

    public static var decoder: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return decoder
    }

    /// Writes this document as JSON to `path`, creating its directory.
    public func write(to path: String) throws {
        let url = URL(fileURLWithPath: path)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Self.encoder.encode(self).write(to: url, options: .atomic)
        } catch {
            throw BenchReportError.unwritable(path: path, reason: error.localizedDescription)
        }
    }
}
