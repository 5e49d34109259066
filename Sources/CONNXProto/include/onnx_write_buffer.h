// Hand-written (not generated): a ProtobufCBuffer that carries a context pointer, so that a Swift
// callback passed as `base.append` can find the writer that owns it while packing to a file.
#ifndef MODELPRESS_ONNX_WRITE_BUFFER_H
#define MODELPRESS_ONNX_WRITE_BUFFER_H
#include <protobuf-c/protobuf-c.h>

typedef struct MPContextBuffer {
    ProtobufCBuffer base;  // must stay first: protobuf-c calls base.append(&base, len, data)
    void *context;         // owned by the Swift caller for the duration of one pack call
} MPContextBuffer;

#endif
