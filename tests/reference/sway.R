# Reference values for backwalk_study.sway (issue 7): centre-of-pressure sway.
#
# Run from this folder:   cd tests/reference && Rscript sway.R
#
# It writes three SYNTHETIC force-plate recordings (random-walk COP made up
# here with a fixed seed; they describe no real person), in three export
# styles, and the sway measures computed on them by an independent base-R
# implementation (no R package for Welch spectra is used; the periodogram
# averaging is written out below with stats::fft):
#   sway_synthetic_a.txt   tab, Time[s], COPx[cm], COPy[cm], 100 Hz, 20 s
#   sway_synthetic_b.csv   comma, "time (s)", "cop_x (mm)", "cop_y (mm)", 50 Hz, 30 s
#   sway_synthetic_c.txt   semicolon, Time[ms], COPx[m], COPy[m], 200 Hz, 10 s
#   sway_reference.csv     dataset, metric, value
# When the Santos & Duarte (2016) recordings are present at
# ../../../shared/data/bds/raw (read-only, never copied here), their values
# are added as datasets "bds_BDS000NN"; otherwise those rows are left out and
# tests/test_sway.py skips them.
#
# Definitions (same as the Python docstring of cop_metrics):
#   path length = sum of Euclidean steps; mean velocity = path / (n / fs)
#   ellipse_area_95 = pi * sqrt(det(S)) * 2 (n+1)(n-1) / (n (n-2)) * qf(0.95, 2, n-2)
#   ellipse_area_95_chi2 = pi * sqrt(det(S)) * qchisq(0.95, 2)
#   Welch: Hann window (periodic), segments n %/% 2, overlap n %/% 4,
#   nfft = segment length, each segment's mean removed, one-sided density.
# Values are written with 17 significant digits.

options(warn = 1)
set.seed(20261125)

welch <- function(x, fs) {
  n <- length(x)
  nseg <- n %/% 2
  step <- nseg - n %/% 4
  k <- 0:(nseg - 1)
  w <- 0.5 - 0.5 * cos(2 * pi * k / nseg)      # periodic Hann, as scipy's get_window("hann")
  starts <- seq(1, n - nseg + 1, by = step)
  nf <- nseg %/% 2 + 1
  P <- numeric(nf)
  for (s in starts) {
    seg <- x[s:(s + nseg - 1)]
    seg <- (seg - mean(seg)) * w
    X <- fft(seg)[1:nf]
    P <- P + Mod(X)^2
  }
  P <- P / length(starts) / (fs * sum(w^2))
  double <- if (nseg %% 2 == 0) 2:(nf - 1) else 2:nf
  P[double] <- 2 * P[double]
  list(f = (0:(nf - 1)) * fs / nseg, P = P)
}
trapz <- function(y, x) sum(diff(x) * (head(y, -1) + tail(y, -1)) / 2)
cumtrapz <- function(y, x) c(0, cumsum(diff(x) * (head(y, -1) + tail(y, -1)) / 2))
mean_freq <- function(s) trapz(s$f * s$P, s$f) / trapz(s$P, s$f)
median_freq <- function(f, P) {
  cum <- cumtrapz(P, f)
  approx(cum, f, xout = cum[length(cum)] / 2, ties = "ordered")$y
}

out <- list()
put <- function(dataset, metric, value) {
  out[[length(out) + 1L]] <<- data.frame(dataset = dataset, metric = metric,
                                         value = sprintf("%.17g", as.numeric(value)))
}

measure <- function(dataset, x, y, fs) {
  n <- length(x)
  dx <- diff(x); dy <- diff(y)
  duration <- n / fs
  path <- sum(sqrt(dx^2 + dy^2))
  S <- cov(cbind(x, y))
  xc <- x - mean(x); yc <- y - mean(y)
  sx <- welch(x, fs); sy <- welch(y, fs)
  wx <- sum(sx$P); wy <- sum(sy$P)
  put(dataset, "n_samples", n)
  put(dataset, "duration_s", duration)
  put(dataset, "path_length", path)
  put(dataset, "path_length_x", sum(abs(dx)))
  put(dataset, "path_length_y", sum(abs(dy)))
  put(dataset, "mean_velocity", path / duration)
  put(dataset, "mean_velocity_x", sum(abs(dx)) / duration)
  put(dataset, "mean_velocity_y", sum(abs(dy)) / duration)
  put(dataset, "ellipse_area_95",
      pi * sqrt(det(S)) * 2 * (n + 1) * (n - 1) / (n * (n - 2)) * qf(0.95, 2, n - 2))
  put(dataset, "ellipse_area_95_chi2", pi * sqrt(det(S)) * qchisq(0.95, 2))
  put(dataset, "rms_distance", sqrt(mean(xc^2 + yc^2)))
  put(dataset, "rms_x", sqrt(mean(xc^2)))
  put(dataset, "rms_y", sqrt(mean(yc^2)))
  put(dataset, "mean_distance", mean(sqrt(xc^2 + yc^2)))
  put(dataset, "mean_distance_x", mean(abs(xc)))
  put(dataset, "mean_distance_y", mean(abs(yc)))
  put(dataset, "range_x", diff(range(x)))
  put(dataset, "range_y", diff(range(y)))
  put(dataset, "sd_x", sd(x))
  put(dataset, "sd_y", sd(y))
  put(dataset, "mean_frequency_x", mean_freq(sx))
  put(dataset, "mean_frequency_y", mean_freq(sy))
  put(dataset, "mean_frequency", (mean_freq(sx) * wx + mean_freq(sy) * wy) / (wx + wy))
  put(dataset, "median_frequency_x", median_freq(sx$f, sx$P))
  put(dataset, "median_frequency_y", median_freq(sy$f, sy$P))
  put(dataset, "median_frequency", median_freq(sx$f, sx$P + sy$P))
}

# SYNTHETIC sway: a random walk pulled back towards the centre (AR(1)), plus
# a little measurement noise, in cm.
synthetic_cop <- function(n, fs, step_cm, pull) {
  xy <- matrix(0, n, 2)
  for (i in 2:n) xy[i, ] <- (1 - pull) * xy[i - 1, ] + rnorm(2, 0, step_cm)
  xy + matrix(rnorm(2 * n, 0, step_cm / 4), n, 2)
}

write_recording <- function(file, time, x, y, header, sep, digits) {
  lines <- paste(formatC(time, format = "f", digits = digits[1]),
                 formatC(x, format = "f", digits = digits[2]),
                 formatC(y, format = "f", digits = digits[2]), sep = sep)
  writeLines(c(paste(header, collapse = sep), lines), file)
}

# a: tab-separated, cm, 100 Hz, 20 s, time starting at one sampling interval
fs <- 100; n <- 2000
xy <- synthetic_cop(n, fs, 0.02, 0.01)
write_recording("sway_synthetic_a.txt", (1:n) / fs, xy[, 1], xy[, 2],
                c("Time[s]", "COPx[cm]", "COPy[cm]"), "\t", c(2, 6))
# b: comma-separated, mm, 50 Hz, 30 s, time from 0
fs <- 50; n <- 1500
xy <- synthetic_cop(n, fs, 0.3, 0.02) * 10
write_recording("sway_synthetic_b.csv", (0:(n - 1)) / fs, xy[, 1], xy[, 2],
                c("time (s)", "cop_x (mm)", "cop_y (mm)"), ",", c(2, 4))
# c: semicolon-separated, m, 200 Hz, 10 s, time in ms
fs <- 200; n <- 2000
xy <- synthetic_cop(n, fs, 0.01, 0.005) / 100
write_recording("sway_synthetic_c.txt", (0:(n - 1)) * 1000 / fs, xy[, 1], xy[, 2],
                c("Time[ms]", "COPx[m]", "COPy[m]"), ";", c(1, 8))

# Measure what was written (read back), so R and Python see the same numbers.
a <- read.delim("sway_synthetic_a.txt", check.names = FALSE)
measure("synthetic_a", a[["COPx[cm]"]], a[["COPy[cm]"]], 100)
b <- read.csv("sway_synthetic_b.csv", check.names = FALSE)
measure("synthetic_b", b[["cop_x (mm)"]], b[["cop_y (mm)"]], 50)
c3 <- read.csv2("sway_synthetic_c.txt", dec = ".", check.names = FALSE)
measure("synthetic_c", c3[["COPx[m]"]], c3[["COPy[m]"]], 200)

bds <- file.path("..", "..", "..", "shared", "data", "bds", "raw")
if (dir.exists(bds)) {
  for (file in sort(list.files(bds, pattern = "^BDS.*\\.txt$", full.names = TRUE))) {
    d <- read.delim(file, check.names = FALSE)
    tt <- d[["Time[s]"]]
    fs_file <- (length(tt) - 1) / (tt[length(tt)] - tt[1])
    measure(paste0("bds_", sub("\\.txt$", "", basename(file))), d[["COPx[cm]"]], d[["COPy[cm]"]],
            signif(fs_file, 9))
  }
} else {
  message("Santos & Duarte recordings not found at ", bds, "; BDS reference rows left out")
}

write.csv(do.call(rbind, out), "sway_reference.csv", row.names = FALSE, quote = TRUE)
message("wrote sway_reference.csv: ", length(out), " values")
