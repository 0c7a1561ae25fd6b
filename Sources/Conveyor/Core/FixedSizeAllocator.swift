import CConveyor

/// One allocation interface over four allocators, for fixed-size records: glibc malloc,
/// jemalloc, a Conveyor ``SlabPool``, and whatever `malloc` the process uses. Benchmarks and
/// the engine use it to run the same workload on each.
///
/// ```swift
/// let allocator = try FixedSizeAllocator(.slabPool, objectSize: 64)
/// let record = try allocator.allocate()
/// allocator.deallocate(record)
///
/// // The process's malloc: under `LD_PRELOAD=libmimalloc.so.2` this is mimalloc.
/// let plain = try FixedSizeAllocator(.process, objectSize: 64)
/// plain.deallocate(try plain.allocate())
/// ```
public final class FixedSizeAllocator: @unchecked Sendable {
    // @unchecked: every kind is thread-safe; the descriptor never changes after init.
    public enum Kind: String, Sendable, CaseIterable, CustomStringConvertible {
        /// glibc's allocator (`__libc_malloc`), even when jemalloc replaced `malloc`.
        case glibc
        /// jemalloc's `mallocx`/`sdallocx` with its thread cache (needs the `Jemalloc` trait).
        case jemalloc
        /// A ``SlabPool`` of its own.
        case slabPool
        /// Plain `malloc`/`free`: the process's allocator, whichever it is. glibc by default,
        /// jemalloc when the `Jemalloc` trait links it, or an allocator put in front with
        /// `LD_PRELOAD` (mimalloc, tcmalloc), which ``glibc`` would bypass. Always available.
        case process

        public var description: String { self.rawValue }

        /// Kinds usable in this build.
        public static var available: [Kind] {
            cnv_slab_jemalloc_available() ? [.glibc, .jemalloc, .slabPool, .process] : [.glibc, .slabPool, .process]
        }
    }

    /// Heap-allocated once, so the hot path passes a stable pointer: a stored `var` struct
    /// would cost an exclusivity check and a copy on every call.
    @usableFromInline let descriptor: UnsafeMutablePointer<cnv_allocator>
    public let kind: Kind
    public let objectSize: Int

    public init(_ kind: Kind, objectSize: Int) throws {
        var descriptor = cnv_allocator()
        let cKind: cnv_allocator_kind =
            switch kind {
            case .glibc: CNV_ALLOCATOR_GLIBC
            case .jemalloc: CNV_ALLOCATOR_JEMALLOC
            case .slabPool: CNV_ALLOCATOR_SLAB
            case .process: CNV_ALLOCATOR_PROCESS
            }
        let status = cnv_allocator_init(&descriptor, cKind, objectSize)
        guard status == CNV_OK.rawValue else {
            throw ConveyorError.fromStatus(status, context: "a \(kind) allocator of \(objectSize)-byte objects")
        }
        self.descriptor = .allocate(capacity: 1)
        self.descriptor.initialize(to: descriptor)
        self.kind = kind
        self.objectSize = objectSize
    }

    deinit {
        cnv_allocator_destroy(self.descriptor)
        self.descriptor.deallocate()
    }

    @inlinable
    public func allocate() throws -> UnsafeMutableRawPointer {
        guard let pointer = cnv_allocator_alloc(self.descriptor) else {
            throw ConveyorError.outOfMemory(what: "a \(self.kind) record")
        }
        return pointer
    }

    /// Bytes reserved by the slab pool behind a `.slabPool` allocator (`nil` for the others).
    var reservedBytes: Int? {
        guard self.kind == .slabPool, let pool = self.descriptor.pointee.pool else { return nil }
        var raw = cnv_slab_stats()
        guard cnv_slab_pool_stats(pool, &raw) == CNV_OK.rawValue else { return nil }
        return Int(raw.bytes_reserved)
    }

    @inlinable
    public func deallocate(_ pointer: UnsafeMutableRawPointer) {
        cnv_allocator_free(self.descriptor, pointer)
    }
}
