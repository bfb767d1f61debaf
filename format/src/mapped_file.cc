// Read-only memory mapping of a whole file.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>

#include "infomamba/format/model_file.h"

namespace infomamba::format {
namespace {

Status open_error(const std::string& action, const std::string& path, int error) {
  const StatusCode code = error == ENOENT ? StatusCode::kNotFound : StatusCode::kIoError;
  return Status(code, action + " '" + path + "' failed: " + std::strerror(error));
}

const char* file_type_name(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "a file of unknown type";
}

}  // namespace

Result<int> open_regular_file(const std::string& path, uint64_t* size_bytes) {
  // O_NONBLOCK makes open() of a FIFO return at once instead of waiting for a
  // writer, so that the type check below can reject it. Reads from a regular
  // file ignore the flag.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return open_error("open of", path, errno);

  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    const int error = errno;
    ::close(fd);
    return open_error("fstat of", path, error);
  }
  if (!S_ISREG(info.st_mode)) {
    ::close(fd);
    return Status(StatusCode::kIoError,
                  "'" + path + "' is not a regular file (it is " + file_type_name(info.st_mode) + ")");
  }
  *size_bytes = static_cast<uint64_t>(info.st_size);
  return fd;
}

Result<MappedFile> MappedFile::open(const std::string& path) {
  uint64_t size_bytes = 0;
  IMB_ASSIGN_OR_RETURN(const int fd, open_regular_file(path, &size_bytes));

  MappedFile file;
  file.path_ = path;
  file.size_ = static_cast<size_t>(size_bytes);
  // mmap rejects a length of 0, so an empty file keeps data_ == nullptr and an empty span.
  if (file.size_ > 0) {
    void* address = ::mmap(nullptr, file.size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (address == MAP_FAILED) {
      const int error = errno;
      ::close(fd);
      return open_error("mmap of", path, error);
    }
    file.data_ = static_cast<const std::byte*>(address);
  }
  // The mapping stays valid after the descriptor is closed.
  ::close(fd);
  return file;
}

MappedFile::MappedFile(MappedFile&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      path_(std::move(other.path_)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    path_ = std::move(other.path_);
  }
  return *this;
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
}

Result<std::string> resolve_output_path(const std::string& path) {
  if (path.empty()) return Status(StatusCode::kInvalidArgument, "output path is empty");
  struct stat link_info {};
  if (::lstat(path.c_str(), &link_info) != 0) {
    if (errno == ENOENT) return path;
    return Status(StatusCode::kIoError, "cannot inspect output '" + path + "': " + std::strerror(errno));
  }

  // Write through a symbolic link to its target, as a shell redirection would,
  // instead of replacing the link.
  std::string target = path;
  if (S_ISLNK(link_info.st_mode)) {
    std::error_code error;
    const std::filesystem::path resolved = std::filesystem::weakly_canonical(path, error);
    if (error) {
      return Status(StatusCode::kIoError,
                    "cannot resolve the link '" + path + "': " + error.message());
    }
    target = resolved.string();
  }

  // A rename over a FIFO, a device or a folder would replace it, so only a
  // regular file (or nothing) may sit at the output path.
  struct stat info {};
  if (::stat(target.c_str(), &info) != 0) {
    if (errno == ENOENT) return target;
    return Status(StatusCode::kIoError, "cannot inspect output '" + target + "': " + std::strerror(errno));
  }
  if (!S_ISREG(info.st_mode)) {
    return Status(StatusCode::kInvalidArgument, "output '" + path + "' exists and is not a regular file (it is " +
                                                    file_type_name(info.st_mode) + "); choose a file path");
  }
  return target;
}

}  // namespace infomamba::format
